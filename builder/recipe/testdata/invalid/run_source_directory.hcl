# A run source that is a directory.
# want: 12:12: Invalid source: is a directory, but a run block needs a file.

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

run "setup" {
  source = "../files"
}
