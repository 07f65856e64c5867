# zstd levels run from 1 to 22.
# want: 12:17: Invalid compression: zstd level must be a whole number from 1 to 22, not "23"

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

output {
  compression = "zstd-23"
}
