#!/bin/sh
# Installs what builds and tests need on Debian 12, skipping what is there,
# and registers the qemu binfmt handlers that foreign-architecture builds
# use. Run as root; apt-get update runs only when something is missing.
set -eu

packages="make git ca-certificates debootstrap mmdebstrap busybox-static
qemu-user-static binfmt-support arch-test squashfs-tools bzip2 xz-utils zstd pigz lxd
dnsmasq-base iptables
bubblewrap time
fdisk e2fsprogs dosfstools mtools qemu-utils qemu-system-x86 ovmf gdisk rsync"

missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing packages:$missing; run as root or install them" >&2
		exit 1
	fi
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi

# Without systemd as PID 1 nothing mounts binfmt_misc or loads the
# handlers qemu-user-static installed; do both.
if [ "$(id -u)" -eq 0 ]; then
	if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || echo "install-deps: cannot mount binfmt_misc; foreign architectures will not build" >&2
	fi
	if [ -e /proc/sys/fs/binfmt_misc/status ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
		update-binfmts --enable || echo "install-deps: update-binfmts failed; foreign architectures will not build" >&2
	fi
fi

if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
	echo "install-deps: Go 1.26 is needed at /usr/local/go (see README)" >&2
	exit 1
fi
