# Separate mistakes in variables and references are reported together,
# the --var error, which has no position, first.
# var: arch=arm64
# want: -: Undeclared variable: --var sets "arch", but the recipe declares no variable "arch". Declared variables: release.
# want: 8:1: Unset variable: Variable "release" has no default
# want: 17:18: Reference to undeclared local value: no local value named "nmae" (did you mean "name"?)

variable "release" {
  type = string
}

locals {
  name = "debian-${var.release}"
}

image {
  name         = local.nmae
  distribution = "debian"
  release      = var.release
}

bootstrap "busybox" {}
