# A reference whose root is neither var nor local.
# want: 6:18: Unknown variable: There is no variable named "foo". A recipe refers to its variables as var.NAME

image {
  distribution = "debian"
  release      = foo.bar
}

bootstrap "busybox" {}
