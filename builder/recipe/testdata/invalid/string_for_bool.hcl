# A string where packages takes a bool.
# want: 12:13: Incorrect attribute value type: attribute "update": a bool is required

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

packages {
  update  = "yes please"
  install = ["less"]
}
