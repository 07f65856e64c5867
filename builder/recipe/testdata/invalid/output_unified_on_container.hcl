# unified is a setting of vm outputs: a container image is unified by
# its type, and says so.
# want: 9:13: Invalid output combination: unified packs a virtual machine's image as one tarball, so it needs type = "vm"; a container image is unified with type = "unified", and this output is split
# want: 14:13: Invalid output combination: this output is unified
# want: 19:13: Incorrect attribute value type: a bool is required

output "split" {
  compression = "gzip"
  unified = true
}

output "whole" {
  type    = "unified"
  unified = false
}

output "vm" {
  type    = "vm"
  unified = "sometimes"
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
