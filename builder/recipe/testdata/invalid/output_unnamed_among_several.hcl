# An unnamed output block is allowed only as the recipe's one output.
# want: 11:1: Unnamed output block: This recipe has 2 output blocks, so each needs a name

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

output {
  type = "split"
}

output "vm" {
  type = "vm"
}

packages "boot" {
  enabled = build.type == "vm"
  install = ["linux-image-cloud-amd64", "grub-efi-amd64-signed", "shim-signed"]
}
