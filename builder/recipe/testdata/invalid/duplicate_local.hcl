# The same local defined in two locals blocks.
# want: 9:3: Duplicate local value: local.suite is already defined at testdata/invalid/duplicate_local.hcl:5;

locals {
  suite = "bookworm"
}

locals {
  suite = "trixie"
}

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}
