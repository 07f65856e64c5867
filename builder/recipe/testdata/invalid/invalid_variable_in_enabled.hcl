# A variable that fails its validation is reported once, not again by
# the bootstrap count that depends on it.
# var: method=tarball
# want: 10:21: Invalid value for variable: var.method is "tarball" (from --var)

variable "method" {
  type    = string
  default = "debootstrap"
  validation {
    condition     = contains(["debootstrap", "busybox"], var.method)
    error_message = "The method must be \"debootstrap\" or \"busybox\"."
  }
}

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "debootstrap" {
  enabled = var.method == "debootstrap"
}

bootstrap "busybox" {
  enabled = var.method == "busybox"
}
