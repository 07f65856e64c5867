# Sensitive values flowing into published image metadata: each use is an
# error at the value, unless nonsensitive() says it is meant to be public.
# var: token=s3cr3t-token-value
# want: 25:18: Sensitive value in public image metadata: description of the image is computed from a sensitive value
# want: 26:35: Sensitive value in public image metadata: aliases[1] of the image
# want: 29:15: Sensitive value in public image metadata: properties["token"] of the image
# want: 30:15: Sensitive value in public image metadata: properties["hashed"] of the image
# want: 39:24: Sensitive value in public image metadata: properties["key"] of template "/etc/hostname"
# want: 40:16: Sensitive value in public image metadata: uid of template "/etc/hostname"

variable "token" {
  type      = string
  sensitive = true
}

locals {
  tag = "build-${var.token}"
  uid = "1000"
}

image {
  distribution = "busybox"
  release      = "test"
  architecture = "amd64"
  description  = "built with ${var.token}"
  aliases      = ["busybox/test", local.tag]
  properties = {
    plain   = "fine"
    token   = var.token
    hashed  = sha256(var.token)
    allowed = nonsensitive(sha256(var.token))
  }
}

bootstrap "busybox" {}

template "/etc/hostname" {
  content    = "{{ container.name }} ${var.token}\n"
  properties = { key = local.tag, public = nonsensitive(local.tag) }
  uid        = var.token == "" ? "0" : local.uid
}

template "/etc/disabled" {
  enabled    = false
  content    = "x\n"
  properties = { key = var.token }
}
