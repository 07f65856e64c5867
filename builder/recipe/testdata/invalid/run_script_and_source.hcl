# A run block with both script and source.
# want: 13:12: Conflicting attributes: A run block takes either script or source, not both

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

run "setup" {
  source = "../files/hostname.tpl"
  script = "echo hello"
}
