# The same variable declared twice.
# want: 8:1: Duplicate variable block: A variable "release" is already defined at testdata/invalid/duplicate_variable.hcl:4.

variable "release" {
  default = "bookworm"
}

variable "release" {
  default = "trixie"
}

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}
