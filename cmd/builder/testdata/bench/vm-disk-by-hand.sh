#!/bin/sh
# distrobuilder's way to a VM disk, which BenchmarkVMBoot boots against
# builder's: a sparse raw file, sgdisk, a loop device, mkfs.ext4, mount,
# rsync -aHAX, update-grub in the chroot with lxc-ci's settings (no menu
# timeout, the serial console) and root=UUID, unmount, qemu-img convert
# -c. Two departures, for the machines the benchmarks run on: their
# kernel has no vfat, so the ESP is written with mtools as grub-install
# --removable --uefi-secure-boot lays it out (shim as BOOTX64.EFI, grub
# and MokManager beside it, a grub.cfg that hands over to
# /boot/grub/grub.cfg); and it makes no partition devices for a loop
# device, so the root partition is a loop device at its offset, mounted
# through a node of another name (grub's 10_linux skips a root on
# /dev/loopN of a file).
# Usage: vm-disk-by-hand.sh ROOTFS OUT.qcow2 (as root, amd64 rootfs).
set -eu
rootfs=$1
out=$2
work=$(mktemp -d)
raw=$work/raw
truncate -s 4G "$raw"
sgdisk -n 1:0:+100M -t 1:EF00 -n 2:0:0 -t 2:8300 "$raw" >/dev/null
field() { sgdisk -i "$1" "$raw" | awk -v f="$2" '$0 ~ f { print $3 }'; }
esp_start=$(field 1 "First sector")
esp_sectors=$(($(field 1 "Last sector") - esp_start + 1))
root_start=$(field 2 "First sector")
root_sectors=$(($(field 2 "Last sector") - root_start + 1))

loop=$(losetup --show -f -o $((root_start * 512)) --sizelimit $((root_sectors * 512)) "$raw")
node=/dev/vm-by-hand-$$
trap 'rm -f "$node"; losetup -d "$loop"; rm -rf "$work"' EXIT
mknod "$node" b $(printf '%d %d' "0x$(stat -c %t "$loop")" "0x$(stat -c %T "$loop")")
mkfs.ext4 -q -L rootfs "$node"
uuid=$(blkid -s UUID -o value "$node")

# The mounts live in a namespace of their own: gone when it ends.
unshare --mount --propagation private sh -eu -c '
	rootfs=$1 node=$2 uuid=$3 mnt=$4
	mkdir "$mnt"
	mount "$node" "$mnt"
	rsync -aHAX "$rootfs"/ "$mnt"/
	for d in dev proc sys; do mount --bind /$d "$mnt/$d"; done
	mkdir -p "$mnt/etc/default/grub.d" "$mnt/boot/grub"
	printf "%s\n" GRUB_TIMEOUT=0 GRUB_RECORDFAIL_TIMEOUT=0 GRUB_TERMINAL=console \
		"GRUB_CMDLINE_LINUX_DEFAULT=\"console=tty1 console=ttyS0\"" >"$mnt/etc/default/grub.d/50-lxd.cfg"
	chroot "$mnt" update-grub 2>/dev/null
	sed -i "s#root=[^ ]*#root=UUID=$uuid#g" "$mnt/boot/grub/grub.cfg"
	grep -q "linux.*/boot/vmlinuz-.*root=UUID=$uuid" "$mnt/boot/grub/grub.cfg"
	for d in dev proc sys; do umount "$mnt/$d"; done
	umount "$mnt"
' sh "$rootfs" "$node" "$uuid" "$work/mnt"

esp=$work/esp
truncate -s $((esp_sectors * 512)) "$esp"
mkfs.vfat -n UEFI "$esp" >/dev/null
printf "search.fs_uuid %s root\nset prefix=(\$root)'/boot/grub'\nconfigfile \$prefix/grub.cfg\n" "$uuid" >"$work/grub.cfg"
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/EFI/debian
mcopy -i "$esp" "$rootfs/usr/lib/shim/shimx64.efi.signed" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" "$rootfs/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed" ::/EFI/BOOT/grubx64.efi
mcopy -i "$esp" "$rootfs/usr/lib/shim/mmx64.efi.signed" ::/EFI/BOOT/mmx64.efi
mcopy -i "$esp" "$work/grub.cfg" ::/EFI/debian/grub.cfg
mcopy -i "$esp" "$work/grub.cfg" ::/EFI/BOOT/grub.cfg
dd if="$esp" of="$raw" bs=512 seek="$esp_start" conv=notrunc,sparse status=none
qemu-img convert -c -O qcow2 "$raw" "$out"
