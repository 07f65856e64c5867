# none takes no level.
# want: 12:17: Invalid compression: compression "none" takes no level

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

output {
  compression = "none-1"
}
