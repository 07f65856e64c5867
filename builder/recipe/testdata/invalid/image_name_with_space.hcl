# An image name with a space.
# want: 7:18: Invalid image name: image name "debian bookworm" may hold only letters

image {
  distribution = "debian"
  release      = "bookworm"
  name         = "debian bookworm"
}

bootstrap "busybox" {}
