# A file block with neither content nor source.
# want: 11:1: Missing file content: needs exactly one of content (the text) or source

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

file "/etc/hostname" {
  mode = "0644"
}
