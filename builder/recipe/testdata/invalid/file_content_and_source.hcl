# A file block with both content and source.
# want: 13:13: Conflicting attributes: A file block takes either content or source, not both

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

file "/etc/hostname" {
  content = "builder\n"
  source  = "../files/hostname.tpl"
}
