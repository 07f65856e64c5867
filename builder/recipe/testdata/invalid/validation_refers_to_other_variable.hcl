# A validation condition may only look at its own variable.
# want: 13:21: Invalid variable validation condition: may refer only to var.variant

variable "release" {
  type    = string
  default = "bookworm"
}

variable "variant" {
  type    = string
  default = "default"
  validation {
    condition     = var.release == "bookworm" || var.variant == "default"
    error_message = "Only bookworm has variants."
  }
}

image {
  distribution = "debian"
  release      = var.release
  variant      = var.variant
}

bootstrap "busybox" {}
