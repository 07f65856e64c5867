# Two enabled run blocks with one name: the later block is reported,
# though it runs in an earlier stage.
# want: 17:1: Duplicate run name: already used by the run block at testdata/invalid/duplicate_run_name.hcl:12;

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

run "setup" {
  stage  = "post-files"
  script = "echo one"
}

run "setup" {
  script = "echo two"
}
