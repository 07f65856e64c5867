# A remove of "/" would empty the image.
# want: 11:8: Invalid path: "/" names the image's root directory

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

remove "/" {}
