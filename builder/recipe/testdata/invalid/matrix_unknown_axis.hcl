# A matrix axis must name a declared variable.
# want: 12:3: Unknown matrix axis: A matrix axis names a variable, and there is no variable "architecure" (did you mean "architecture"?).

variable "architecture" { default = "amd64" }

image {
  distribution = "busybox"
  release      = "x"
}
bootstrap "busybox" {}
matrix {
  architecure = ["amd64"]
}
