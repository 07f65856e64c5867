# A busybox build whose run step fails with status 3.
image {
  distribution = "busybox"
  release      = "test"
  architecture = "amd64"
}

bootstrap "busybox" {}

run "fail" {
  script = "#!/bin/sh\necho about to fail\necho on stderr >&2\nexit 3\n"
}
