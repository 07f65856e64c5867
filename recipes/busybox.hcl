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

# Networking: busybox's DHCP client on eth0, started at boot when the
# instance has a NIC (see files/busybox/rcS), so the image gets an
# address on a bridge as the distributions' images do.
file "/etc/init.d/rcS" {
  source = "files/busybox/rcS"
  mode   = "0755"
}

file "/usr/share/udhcpc/default.script" {
  source = "files/busybox/default.script"
  mode   = "0755"
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

# builder test runs this in each booted instance: the image is the one
# this recipe built.
test "motd" {
  script = <<-EOT
    #!/bin/sh
    set -eu
    grep -qx 'Built by builder from recipes/busybox.hcl.' /etc/motd
    test "$(cat /etc/builder-recipe)" = busybox
  EOT
}

output {
  type        = "unified"
  compression = "gzip"
}
