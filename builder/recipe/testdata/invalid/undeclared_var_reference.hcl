# A reference to a variable that is not declared.
# want: 11:18: Reference to undeclared variable: There is no variable named "relase" (did you mean "release"?); declare it

variable "release" {
  type    = string
  default = "bookworm"
}

image {
  distribution = "debian"
  release      = var.relase
}

bootstrap "busybox" {}
