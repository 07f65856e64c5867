# Customises an image a local LXD or Incus daemon already holds: what
# `lxc launch`, `lxc exec` and `lxc publish` do by hand, repeatably. By
# default it starts from the busybox image that
#
#   builder build recipes/busybox.hcl --import
#
# leaves in the daemon as busybox-amd64; any container image of the
# architecture does (--var alias=…), the run step needing /bin/sh. The
# base's files, templates and properties are kept; the recipe adds a
# file and a run step on top. Pin the base with
# --var fingerprint=… (lxc image info shows it): the build then fails
# if the alias names any other image.

variable "daemon" {
  type        = string
  default     = "lxd"
  description = "The daemon whose image store holds the base: lxd or incus"
}

variable "alias" {
  type        = string
  default     = "busybox-amd64"
  description = "The alias naming the base image"
}

variable "fingerprint" {
  type        = string
  default     = ""
  description = "The base image's full fingerprint, to build on exactly that image"
}

variable "architecture" {
  type        = string
  default     = "amd64"
  description = "The base image's architecture"
}

image {
  name         = "busybox-custom-${var.architecture}"
  distribution = "busybox"
  release      = "custom"
  architecture = var.architecture
  description  = "${var.alias} (${var.architecture}), customised by builder"
  expiry       = "7d"
}

bootstrap "image" {
  daemon      = var.daemon
  alias       = var.alias
  fingerprint = var.fingerprint == "" ? null : var.fingerprint
}

file "/etc/motd" {
  content = "Customised by builder from recipes/busybox-image.hcl.\n"
}

run "mark-build" {
  stage  = "post-files"
  script = <<-EOT
    #!/bin/sh
    set -eu
    echo busybox-image > /etc/builder-recipe
  EOT
}

test "motd" {
  script = <<-EOT
    #!/bin/sh
    set -eu
    grep -qx 'Customised by builder from recipes/busybox-image.hcl.' /etc/motd
    test "$(cat /etc/builder-recipe)" = busybox-image
  EOT
}

output {
  type        = "unified"
  compression = "gzip"
}
