# A run stage that does not exist.
# want: 12:12: Unknown run stage: not "post-package" (did you mean "post-packages"?)

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

run "setup" {
  stage  = "post-package"
  script = "echo hello"
}
