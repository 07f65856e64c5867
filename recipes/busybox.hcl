# A tiny image from a static busybox binary: it builds in seconds, so the
# root and LXD tests use it. The default binary is the one Debian's
# busybox-static package installs.

variable "busybox" {
  type        = string
  default     = "/bin/busybox"
  description = "Static busybox binary on the build host"
}

variable "architecture" {
  type        = string
  default     = "amd64"
  description = "Architecture of the busybox binary"
}

image {
  name         = "busybox-${var.architecture}"
  distribution = "busybox"
  release      = "static"
  architecture = var.architecture
  description  = "BusyBox (static) ${var.architecture}"
  expiry       = "7d"
}

bootstrap "busybox" {
  binary = var.busybox
}

file "/etc/motd" {
  content = "Built by builder from recipes/busybox.hcl.\n"
}

file "/etc/profile" {
  content = "export PATH=/usr/sbin:/usr/bin:/sbin:/bin\nexport PS1='\\h:\\w\\$ '\n"
}

run "mark-build" {
  stage  = "post-files"
  script = <<-EOT
    #!/bin/sh
    set -eu
    echo busybox > /etc/builder-recipe
  EOT
}

template "/etc/hostname" {
  source = "../templates/hostname.tpl"
}

template "/etc/hosts" {
  source = "../templates/hosts.tpl"
}

output {
  type        = "unified"
  compression = "gzip"
}
