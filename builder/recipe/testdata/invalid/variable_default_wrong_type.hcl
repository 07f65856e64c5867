# A default that does not match the declared type.
# want: 6:13: Invalid default value for variable: list of string required, but have string

variable "components" {
  type    = list(string)
  default = "main"
}

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}
