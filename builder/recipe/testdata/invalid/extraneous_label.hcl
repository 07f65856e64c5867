# A bootstrap block with a second label.
# want: 9:21: Extraneous label for bootstrap: A bootstrap block takes one label, its backend.

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" "static" {}
