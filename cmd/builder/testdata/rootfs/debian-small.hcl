# A small Debian system: a bootstrap, one package and a run step. The
# slow tests build it with debootstrap and with mmdebstrap.
variable "tool" { default = "debootstrap" }

image {
  distribution = "debian"
  release      = "bookworm"
  architecture = "amd64"
}

bootstrap "debootstrap" {
  enabled = var.tool == "debootstrap"
  variant = "minbase"
}

bootstrap "mmdebstrap" {
  enabled = var.tool == "mmdebstrap"
  variant = "minbase"
}

packages {
  update  = true
  install = ["less"]
  cleanup = true
}

run "check" {
  script = "#!/bin/sh\nset -eu\ndpkg -s less | grep -q 'Status: install ok installed'\necho checked > /etc/checked\n"
}
