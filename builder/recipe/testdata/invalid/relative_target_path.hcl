# File paths are absolute paths inside the image.
# want: 11:6: Invalid path: "etc/motd" must be an absolute path inside the image

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

file "etc/motd" {
  content = "hello\n"
}
