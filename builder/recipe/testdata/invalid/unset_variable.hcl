# A variable with no default and no value.
# want: 4:1: Unset variable: Variable "release" has no default, so a value is required: --var release=VALUE

variable "release" {
  type = string
}

image {
  distribution = "debian"
  release      = var.release
}

bootstrap "busybox" {}
