# An empty script is reported at the script attribute.
# want: 13:12: Empty script: The run step "setup" has an empty script.

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

run "setup" {
  stage  = "post-files"
  script = "  \n"
}
