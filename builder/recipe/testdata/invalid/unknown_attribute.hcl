# An attribute the image block does not take.
# want: 7:3: Unsupported argument: An argument named "colour" is not expected here.

image {
  distribution = "debian"
  release      = "bookworm"
  colour       = "red"
}

bootstrap "busybox" {}
