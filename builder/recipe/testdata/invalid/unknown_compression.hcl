# A compression algorithm that does not exist.
# want: 12:17: Invalid compression: unknown compression "bzip2"; use one of gzip, xz, zstd, none

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

output {
  compression = "bzip2"
}
