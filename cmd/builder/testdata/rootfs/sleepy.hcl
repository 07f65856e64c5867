# A busybox build that waits in a run step, so a test can kill builder
# while the chroot is mounted. STAGE selects where it waits.
variable "stage" { default = "post-bootstrap" }

image {
  distribution = "busybox"
  release      = "test"
  architecture = "amd64"
}

bootstrap "busybox" {}

run "wait" {
  stage  = var.stage
  script = "#!/bin/sh\necho waiting; touch /tmp/started; sleep 300\n"
}
