# Debian bookworm system container, in two variants:
#   default  systemd, ifupdown networking and an ssh server
#   cloud    the same plus cloud-init, configured by LXD's cloud-init.* keys
#
#   builder build recipes/debian.hcl --var variant=cloud --var architecture=arm64

variable "release" {
  type        = string
  default     = "bookworm"
  description = "Debian release (suite) to bootstrap"
}

variable "architecture" {
  type        = string
  default     = "amd64"
  description = "Debian architecture name; arm64 builds under qemu-user-static"
  validation {
    condition     = contains(["amd64", "arm64"], var.architecture)
    error_message = "The architecture must be \"amd64\" or \"arm64\"."
  }
}

variable "variant" {
  type        = string
  default     = "default"
  description = "Image variant: default, or cloud (adds cloud-init)"
  validation {
    condition     = contains(["default", "cloud"], var.variant)
    error_message = "The variant must be \"default\" or \"cloud\"."
  }
}

variable "mirror" {
  type        = string
  default     = ""
  description = "Debian mirror URL; empty means debootstrap's own default"
}

# Nightly builds: `builder matrix recipes/debian.hcl` lists one job per
# combination for a CI engine; `builder build --job NAME` builds one.
matrix {
  architecture = ["amd64", "arm64"]
  variant      = ["default", "cloud"]
}

locals {
  cloud = var.variant == "cloud"
}

image {
  name         = "debian-${var.release}-${var.architecture}-${var.variant}"
  distribution = "debian"
  release      = var.release
  architecture = var.architecture
  variant      = var.variant
  description  = "Debian ${var.release} ${var.architecture} (${var.variant})"
  expiry       = "30d"
  properties = {
    os = "debian"
  }
}

bootstrap "debootstrap" {
  suite      = var.release
  variant    = "minbase"
  mirror     = var.mirror
  components = ["main"]
  include    = ["systemd-sysv", "ifupdown", "iproute2", "isc-dhcp-client", "ca-certificates"]
}

environment {
  DEBIAN_FRONTEND = "noninteractive"
}

packages {
  update  = true
  upgrade = true
  install = ["openssh-server", "less", "vim-tiny", "locales"]
  cleanup = true
}

packages "cloud" {
  enabled = local.cloud
  install = ["cloud-init"]
  cleanup = true
}

file "/etc/network/interfaces" {
  enabled = !local.cloud
  content = <<-EOT
    source /etc/network/interfaces.d/*

    auto lo
    iface lo inet loopback

    auto eth0
    iface eth0 inet dhcp
  EOT
  mode    = "0644"
}

# On cloud images cloud-init writes eth0's stanza from LXD's
# network-config template into interfaces.d; declaring it here as well
# would start a second DHCP client.
file "/etc/network/interfaces" {
  enabled = local.cloud
  content = <<-EOT
    source /etc/network/interfaces.d/*

    auto lo
    iface lo inet loopback
  EOT
  mode    = "0644"
}

file "/etc/default/locale" {
  content = "LANG=C.UTF-8\n"
}

run "configure-systemd" {
  stage  = "post-packages"
  script = <<-EOT
    #!/bin/sh
    set -eu
    # Containers have no hardware clock, no consoles beyond LXD's and no
    # need to wait for a network that LXD already configured.
    systemctl mask systemd-timesyncd.service getty-static.service
    systemctl mask systemd-networkd-wait-online.service 2>/dev/null || true
    systemctl enable networking.service
  EOT
}

template "/etc/hostname" {
  source = "../templates/hostname.tpl"
  when   = ["create", "copy"]
}

template "/etc/hosts" {
  source = "../templates/hosts.tpl"
  when   = ["create", "copy"]
}

template "/var/lib/cloud/seed/nocloud-net/meta-data" {
  enabled = local.cloud
  source  = "../templates/cloud-init-meta-data.tpl"
  when    = ["create", "copy"]
}

template "/var/lib/cloud/seed/nocloud-net/user-data" {
  enabled    = local.cloud
  source     = "../templates/cloud-init-user-data.tpl"
  when       = ["create", "copy"]
  properties = { default = "#cloud-config\n{}\n" }
}

template "/var/lib/cloud/seed/nocloud-net/vendor-data" {
  enabled    = local.cloud
  source     = "../templates/cloud-init-vendor-data.tpl"
  when       = ["create", "copy"]
  properties = { default = "#cloud-config\n{}\n" }
}

template "/var/lib/cloud/seed/nocloud-net/network-config" {
  enabled = local.cloud
  source  = "../templates/cloud-init-network-config.tpl"
  when    = ["create", "copy"]
}

output {
  type        = "split"
  compression = "xz"
  rootfs      = "squashfs"
}
