# Customises an existing OCI (container) image: its layers, applied in
# order with their whiteouts, become the root filesystem, to which a file
# and a run step are added, and which builds as an LXD/Incus image.
#
#   builder build recipes/oci.hcl --var image=HOST:PORT/NAME:TAG
#
# The registry is spoken to over HTTPS only; credentials come from
# BUILDER_REGISTRY_USERNAME and BUILDER_REGISTRY_PASSWORD, or from a
# docker or podman login (see the README). The image needs /bin/sh for
# the run step: any distribution's base image has one, and so does a
# busybox one.

variable "image" {
  type        = string
  default     = "127.0.0.1:5000/busybox:latest"
  description = "The OCI image: HOST[:PORT]/NAME:TAG or HOST[:PORT]/NAME@sha256:…"
}

variable "digest" {
  type        = string
  default     = ""
  description = "The manifest digest (sha256:…) the image must have; required for a tag under build --locked"
}

variable "distribution" {
  type        = string
  default     = "busybox"
  description = "What the image is, for the image's os property"
}

variable "architecture" {
  type        = string
  default     = "amd64"
  description = "The image's architecture: the index entry chosen, and checked against the image's config"
}

image {
  name         = "oci-${var.distribution}-${var.architecture}"
  distribution = var.distribution
  release      = "oci"
  architecture = var.architecture
  description  = "${var.image} (${var.architecture}), customised by builder"
  expiry       = "30d"
}

bootstrap "oci" {
  image  = var.image
  digest = var.digest == "" ? null : var.digest
}

file "/etc/motd" {
  content = "Built by builder from recipes/oci.hcl.\n"
}

run "mark-build" {
  stage  = "post-files"
  script = <<-EOT
    #!/bin/sh
    set -eu
    echo oci > /etc/builder-recipe
  EOT
}

template "/etc/hostname" {
  source = "../templates/hostname.tpl"
}

output {
  type        = "unified"
  compression = "gzip"
}
