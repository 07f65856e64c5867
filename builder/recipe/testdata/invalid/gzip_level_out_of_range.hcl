# gzip levels run from 1 to 9.
# want: 12:17: Invalid compression: gzip level must be a whole number from 1 to 9, not "0"

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

output {
  compression = "gzip-0"
}
