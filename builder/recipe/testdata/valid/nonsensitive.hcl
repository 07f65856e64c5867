# A sensitive value published on purpose: nonsensitive() opts each use
# into the image's metadata, while builder keeps masking the token, and
# the parts of locals computed from it, in what it prints.
# var: token=s3cr3t-token-value

variable "token" {
  type      = string
  sensitive = true
}

variable "user" {
  default = "deploy"
}

locals {
  credentials = { user = var.user, password = var.token }
  shout       = upper(var.token)
}

image {
  distribution = "busybox"
  release      = "test"
  architecture = "amd64"
  properties = {
    token_sha256 = nonsensitive(sha256(var.token))
    user         = local.credentials.user
  }
}

bootstrap "busybox" {}

environment {
  AUTH = "Bearer ${var.token}"
}

run "login" {
  environment = { PASSWORD = local.credentials.password, LOGIN = "plain-login" }
  script      = "echo logging in"
}

template "/etc/hostname" {
  content    = "{{ container.name }}\n"
  properties = { build = nonsensitive(local.shout) }
}
