# A build that takes as long as var.nap says, for `builder repro`'s
# interruption tests: its run step marks the rootfs, then sleeps.
variable "nap" {
  type    = number
  default = 1
}

image {
  name         = "nap"
  distribution = "busybox"
  release      = "test"
  architecture = "amd64"
}

bootstrap "busybox" {}

run "nap" {
  stage  = "post-files"
  script = <<-EOT
    #!/bin/sh
    touch /etc/napping
    sleep ${var.nap}
  EOT
}

output "split" {
  type        = "split"
  compression = "gzip"
  rootfs      = "squashfs"
}
