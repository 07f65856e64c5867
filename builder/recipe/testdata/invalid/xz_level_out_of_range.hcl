# xz levels run from 0 to 9.
# want: 12:17: Invalid compression: xz level must be a whole number from 0 to 9, not "10"

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

output {
  compression = "xz-10"
}
