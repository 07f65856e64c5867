# Every bootstrap is switched off for the variable's value.
# var: method=tarball
# want: 15:1: No bootstrap enabled: Every bootstrap block is disabled by its enabled condition

variable "method" {
  type    = string
  default = "debootstrap"
}

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "debootstrap" {
  enabled = var.method == "debootstrap"
}

bootstrap "mmdebstrap" {
  enabled = var.method == "mmdebstrap"
}
