# A block inside locals is reported once.
# want: 6:3: Unexpected block in locals: so the "extra" block cannot be inside it

locals {
  suite = "bookworm"
  extra {
    suite = "trixie"
  }
}

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}
