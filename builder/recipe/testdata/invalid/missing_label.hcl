# A file block without its path label.
# want: 11:6: Missing path for file: A file block takes one label, its path.

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

file {
  content = "hello\n"
}
