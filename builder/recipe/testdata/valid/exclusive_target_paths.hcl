# Blocks whose enabled conditions exclude each other may share a target
# path, a run name and the bootstrap: only one of each is enabled.
# var: variant=cloud

variable "variant" {
  type    = string
  default = "default"
  validation {
    condition     = contains(["default", "cloud"], var.variant)
    error_message = "The variant must be \"default\" or \"cloud\"."
  }
}

locals {
  cloud = var.variant == "cloud"
}

image {
  distribution = "debian"
  release      = "bookworm"
  variant      = var.variant
}

bootstrap "debootstrap" {
  enabled = !local.cloud
  variant = "minbase"
}

bootstrap "mmdebstrap" {
  enabled = local.cloud
  variant = "apt"
}

file "/etc/motd" {
  enabled = !local.cloud
  content = "A default image.\n"
}

copy "/etc/motd" {
  enabled = local.cloud
  source  = "../files/hostname.tpl"
}

run "configure" {
  enabled = !local.cloud
  script  = "echo default"
}

run "configure" {
  enabled = local.cloud
  stage   = "post-files"
  script  = "echo cloud"
}
