# Bootstraps from an existing busybox tree: a tarball or a directory.
variable "kind" { default = "tarball" }
variable "source" {}
variable "sha256" { default = "" }

image {
  distribution = "busybox"
  release      = "test"
  architecture = "amd64"
}

bootstrap "tarball" {
  enabled = var.kind == "tarball"
  source  = var.source
  sha256  = var.sha256 == "" ? null : var.sha256
}

bootstrap "directory" {
  enabled = var.kind == "directory"
  source  = var.source
}

run "check" {
  script = "#!/bin/sh\nset -eu\ntest -x /bin/busybox\necho from-$(cat /etc/origin) > /etc/checked\n"
}
