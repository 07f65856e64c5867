# A var file sets the release; the image name is derived from it.
# var-file: release.vars

variable "release" {
  type    = string
  default = "bookworm"
}

image {
  distribution = "debian"
  release      = var.release
  architecture = "aarch64"
  expiry       = "1w 2d"
}

bootstrap "debootstrap" {}
