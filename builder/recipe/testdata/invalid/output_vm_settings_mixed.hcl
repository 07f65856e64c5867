# rootfs is not for vm outputs, disk settings only for them; sizes,
# filesystems and formats are checked.
# want: 13:17: Invalid output combination: so it needs type = "vm"; this output is split
# want: 14:17: Invalid output combination: so it needs type = "vm"; this output is split
# want: 19:17: Invalid output combination: rootfs is for split and unified images only
# want: 20:17: Invalid disk size: smaller than the smallest disk, 512MiB
# want: 21:17: Unsupported filesystem: A btrfs root filesystem is not supported yet; use "ext4".
# want: 22:17: Invalid disk format: The disk format must be "qcow2" (what LXD and Incus import), not "raw".
# want: 27:17: Invalid disk size: is not a whole number of MiB
# want: 28:17: Invalid filesystem: The filesystem of a vm disk must be "ext4", not "xfs".

output "container" {
  size        = "8GiB"
  secure_boot = false
}

output "vm" {
  type        = "vm"
  rootfs      = "squashfs"
  size        = "256MiB"
  filesystem  = "btrfs"
  format      = "raw"
}

output "vm2" {
  type        = "vm"
  size        = 1000000000
  filesystem  = "xfs"
}

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

packages "boot" {
  enabled = build.type == "vm"
  install = ["linux-image-cloud-amd64", "grub-efi-amd64-signed", "shim-signed"]
}
