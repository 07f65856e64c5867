# A busybox recipe with a matrix, for ci/simulate-nightly.sh's test: two
# variants, built in seconds.
variable "variant" {
  type    = string
  default = "default"
}

image {
  distribution = "busybox"
  release      = "nightly"
  architecture = "amd64"
  variant      = var.variant
}

bootstrap "busybox" {}

file "/etc/variant" {
  content = "${var.variant}\n"
}

matrix {
  variant = ["default", "tiny"]
}
