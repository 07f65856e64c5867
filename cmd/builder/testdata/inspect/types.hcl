# A recipe with a container and a vm output: inspect shows both outputs,
# the steps and templates each instance type enables, and the local that
# build.type changes.

locals {
  kind    = build.type
  console = "ttyS0"
}

image {
  distribution = "debian"
  release      = "bookworm"
  architecture = "amd64"
}

bootstrap "busybox" {}

packages "boot" {
  enabled = build.type == "vm"
  install = ["linux-image-cloud-amd64", "grub-efi-amd64-signed", "shim-signed"]
}

file "/etc/kind" {
  content = "${local.kind}\n"
}

file "/etc/default/console" {
  enabled = local.kind == "vm"
  content = "${local.console}\n"
}

template "/etc/hostname" {
  enabled = build.type == "container"
  content = "{{ instance.name }}\n"
}

test "console" {
  enabled = build.type == "vm"
  on      = ["vm"]
  timeout = "30s"
  script  = "test -s /etc/default/console"
}

test "kind" {
  script = "grep -qx \"$(cat /etc/kind)\" /etc/kind"
}

output "container" {
  type = "split"
}

output "vm" {
  type        = "vm"
  size        = "8GiB"
  secure_boot = false
  unified     = true
}
