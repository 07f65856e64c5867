# A var file gives a list for a number variable.
# var-file: wrong_type.vars
# want: wrong_type.vars:2:11: Invalid value for variable: The value for "retries" from testdata/invalid/wrong_type.vars:2 does not match its type number

variable "retries" {
  type    = number
  default = 3
}

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}
