# Customises an existing Debian image instead of bootstrapping one: the
# repeatable form of `lxc launch`, `lxc exec`, `lxc publish`. The base
# comes from a simplestreams server (builder serve, or any LXD/Incus
# image server) by alias, for the image's architecture; its fingerprint
# is recorded in image.json as the base, and pinning it makes any other
# image fail the build before anything is downloaded:
#
#   builder serve tree --tls-cert cert.pem --tls-key key.pem &
#   builder build recipes/debian-image.hcl --var server=https://127.0.0.1:8443/
#   builder build recipes/debian-image.hcl --var server=URL --var fingerprint=64HEX
#
# The default server is builder serve's default address on this machine;
# set `server` to the image server you trust.

variable "server" {
  type        = string
  default     = "https://127.0.0.1:8443/"
  description = "The simplestreams server (https URL) the base image comes from"
}

variable "alias" {
  type        = string
  default     = "debian/bookworm/default"
  description = "The base image's alias on the server: os/release/variant, which builder publish and the public image servers give"
}

variable "fingerprint" {
  type        = string
  default     = ""
  description = "The base image's fingerprint (64 hex digits) to pin; empty takes what the alias names now"
}

variable "architecture" {
  type        = string
  default     = "amd64"
  description = "Debian architecture name; the base must have it"
}

image {
  name         = "debian-custom-${var.architecture}"
  distribution = "debian"
  release      = "bookworm"
  architecture = var.architecture
  description  = "Debian bookworm ${var.architecture}, customised from ${var.alias}"
  expiry       = "30d"
  properties = {
    os = "debian"
  }
}

# The base's metadata templates (hostname, hosts …) and properties are
# kept; a template block below for the same path would replace the
# base's, and `drop_templates` / `drop_properties` remove some.
bootstrap "image" {
  server      = var.server
  alias       = var.alias
  fingerprint = var.fingerprint
}

environment {
  DEBIAN_FRONTEND = "noninteractive"
}

packages {
  update  = true
  install = ["jq"]
  cleanup = true
}

file "/etc/motd" {
  content = "Customised by builder from recipes/debian-image.hcl.\n"
  mode    = "0644"
}

run "mark-build" {
  stage  = "post-files"
  script = <<-EOT
    #!/bin/sh
    set -eu
    echo debian-image > /etc/builder-recipe
    # The base's packages are there, and what this recipe installed.
    command -v jq
  EOT
}

test "customised" {
  script = <<-EOT
    #!/bin/sh
    set -eu
    grep -qx 'Customised by builder from recipes/debian-image.hcl.' /etc/motd
    test "$(cat /etc/builder-recipe)" = debian-image
    echo '{"ok": true}' | jq -e .ok
  EOT
}

output {
  type   = "split"
  rootfs = "squashfs"
}
