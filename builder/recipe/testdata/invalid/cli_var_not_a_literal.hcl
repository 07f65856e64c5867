# --var gives a word for a number variable: reported once, and the
# variable is not reported unset as well.
# var: retries=three
# want: -: Invalid value for variable: The value given for "retries" by --var, three, is not a value of type number

variable "retries" {
  type = number
}

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}
