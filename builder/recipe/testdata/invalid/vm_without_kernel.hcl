# A vm output needs a kernel and the bootloader (and the shim with secure
# boot) from packages steps enabled for build.type == "vm": a step
# enabled for containers only does not count, nor a debug package.
# want: 13:1: VM image without kernel or bootloader: The vm output "disk" boots only with a kernel and the signed shim of secure boot in the image, and no packages step enabled for build.type = "vm" installs them: install a kernel (linux-image-cloud-amd64, linux-image-amd64, linux-virtual or linux-generic) and shim-signed in a packages block with enabled = build.type == "vm". Or set secure_boot = false
# want: 21:1: VM image without kernel or bootloader: The vm output "nosb" boots only with a kernel in the image, and no packages step enabled for build.type = "vm" installs it: install a kernel (linux-image-cloud-amd64, linux-image-amd64, linux-virtual or linux-generic) in a packages block with enabled = build.type == "vm". (With build.type = "vm".)

image {
  distribution = "debian"
  release      = "bookworm"
  architecture = "amd64"
}

output "disk" {
  type = "vm"
}

output "container" {
  type = "split"
}

output "nosb" {
  type        = "vm"
  secure_boot = false
}

bootstrap "busybox" {}

packages "container-kernel" {
  enabled = build.type == "container"
  install = ["linux-image-amd64", "shim-signed"]
}

packages "boot" {
  enabled = build.type == "vm"
  install = ["grub-efi-amd64-signed=2.06-13", "linux-image-amd64-dbg"]
}
