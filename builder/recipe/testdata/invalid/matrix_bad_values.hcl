# Axis values must be a non-empty list of values the variable can take,
# each once; an exclude must match a value of the axis.
# want: 21:13: Invalid matrix value: The axis size holds a value var.size cannot take: a number is required.
# want: 22:13: Invalid matrix axis: The axis flavour must be a non-empty list of values for var.flavour.
# want: 23:13: Duplicate matrix value: The axis colour lists red twice.
# want: 25:14: Exclude matches nothing: The axis colour has no value blue, so this exclude leaves out nothing.

variable "size" {
  type    = number
  default = 1
}
variable "flavour" { default = "a" }
variable "colour" { default = "red" }

image {
  distribution = "busybox"
  release      = "x"
}
bootstrap "busybox" {}
matrix {
  size    = [1, "big"]
  flavour = []
  colour  = ["red", "red"]
  exclude {
    colour = "blue"
  }
}
