# An OCI image from a registry or a layout, with a run step that proves
# the image's own shell runs on top of its layers.
variable "image" { default = "" }
variable "digest" { default = "" }
variable "layout" { default = "" }
variable "architecture" { default = "amd64" }

image {
  distribution = "busybox"
  release      = "oci"
  architecture = var.architecture
}

bootstrap "oci" {
  image  = var.image == "" ? null : var.image
  digest = var.digest == "" ? null : var.digest
  layout = var.layout == "" ? null : var.layout
}

run "check" {
  script = "#!/bin/sh\nset -eu\ntest -x /bin/busybox\necho on-top > /etc/checked\n"
}
