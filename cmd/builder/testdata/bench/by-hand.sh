#!/bin/sh
# The by-hand pipeline builder's benchmark compares with: debootstrap,
# apt-get in a chroot, tar | pigz, a metadata tarball, lxc image import.
# Usage: by-hand.sh WORKDIR ALIAS (as root). Mounts stay in a private
# mount namespace, so nothing is left mounted if it fails.
set -eu
work=$1
alias=$2
rootfs=$work/rootfs
mkdir -p "$work/meta"

debootstrap --variant=minbase \
	--include=systemd-sysv,ifupdown,iproute2,isc-dhcp-client,ca-certificates \
	bookworm "$rootfs" >/dev/null

unshare --mount --propagation private sh -eu -c '
	rootfs=$1
	mount -t proc proc "$rootfs/proc"
	mount -t sysfs sys "$rootfs/sys"
	mount --bind /dev "$rootfs/dev"
	chroot "$rootfs" apt-get update -q
	DEBIAN_FRONTEND=noninteractive chroot "$rootfs" apt-get install -y -q --no-install-recommends \
		openssh-server less vim-tiny locales
	chroot "$rootfs" apt-get clean
' sh "$rootfs" >/dev/null

tar -C "$rootfs" --numeric-owner --xattrs --sort=name -cf - . | pigz -6 >"$work/rootfs.tar.gz"
printf 'architecture: x86_64\ncreation_date: %s\nproperties:\n  os: debian\n  release: bookworm\n' "$(date +%s)" >"$work/meta/metadata.yaml"
tar -C "$work/meta" -czf "$work/meta.tar.gz" metadata.yaml
lxc image import "$work/meta.tar.gz" "$work/rootfs.tar.gz" --alias "$alias" >/dev/null
