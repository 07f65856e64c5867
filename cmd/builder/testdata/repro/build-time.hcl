# Not reproducible on purpose: the run step writes the time of the build
# into /etc/build-time, so `builder repro` must fail and name that file.
# Two outputs, so the comparison reads both a squashfs and a tarball.
image {
  name         = "build-time"
  distribution = "busybox"
  release      = "test"
  architecture = "amd64"
}

bootstrap "busybox" {}

run "stamp" {
  stage  = "post-files"
  script = <<-EOT
    #!/bin/sh
    set -eu
    date +%s > /etc/build-time
    # The second build starts after this one ends: a second later at
    # least, so its time is another (busybox's date has no %N).
    sleep 1
    echo steady > /etc/steady
  EOT
}

output "split" {
  type        = "split"
  compression = "gzip"
  rootfs      = "squashfs"
}

output "unified" {
  type        = "unified"
  compression = "zstd"
}
