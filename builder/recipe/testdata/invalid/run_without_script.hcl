# A run block with neither script nor source.
# want: 11:1: Missing script: needs exactly one of script (the text) or source

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

run "setup" {
  stage = "post-files"
}
