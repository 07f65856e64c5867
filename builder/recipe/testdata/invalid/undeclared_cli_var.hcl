# --var for a variable the recipe does not declare.
# var: relase=trixie
# want: -: Undeclared variable: --var sets "relase", but the recipe declares no variable "relase" (did you mean "release"?)

variable "release" {
  type    = string
  default = "bookworm"
}

image {
  distribution = "debian"
  release      = var.release
}

bootstrap "busybox" {}
