# Debian bookworm system container, in two variants:
#   default  systemd, systemd-networkd and -resolved, and an ssh server
#   cloud    the same plus cloud-init, configured by LXD's cloud-init.* keys
#
# Networking is systemd-networkd's, as in the official images: it
# configures eth0 by DHCP when the instance has one and waits for nothing
# when it has none, so the image boots to "running" with or without a
# network device (ifupdown's "auto eth0" fails networking.service without
# one, and its "allow-hotplug eth0" needs udev, which containers lack).
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
  # systemd-resolved here, not in a packages block: its postinst makes
  # /etc/resolv.conf a link to a resolver that does not run in the
  # build, so apt could not resolve names in the steps after it.
  include = ["systemd-sysv", "systemd-resolved", "dbus", "iproute2", "ca-certificates"]
}

environment {
  DEBIAN_FRONTEND = "noninteractive"
}

packages {
  update  = true
  upgrade = true
  # udev: where /sys is writable, as in LXD's containers, networkd
  # waits for udev to set each link up, so without it eth0 stays
  # unconfigured.
  install = ["udev", "openssh-server", "less", "vim-tiny", "locales"]
  cleanup = true
}

packages "cloud" {
  enabled = local.cloud
  install = ["cloud-init"]
  cleanup = true
}

# On cloud images cloud-init writes its own networkd file for eth0 from
# LXD's network-config template (10-cloud-init-eth0.network, which sorts
# first and so wins); this one is the fallback when cloud-init has none.
file "/etc/systemd/network/eth0.network" {
  content = <<-EOT
    [Match]
    Name=eth0

    [Network]
    DHCP=yes
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
    # need to wait for a network, which an instance may not even have.
    systemctl mask systemd-timesyncd.service getty-static.service
    # Nor can a container register binfmt_misc handlers, which cloud's
    # python3 ships one of: the unit would fail every boot.
    systemctl mask systemd-binfmt.service
    systemctl mask systemd-networkd-wait-online.service
    systemctl enable systemd-networkd.service systemd-resolved.service
    # systemd-resolved's postinst kept the build host's resolv.conf here.
    rm -f /etc/.resolv.conf.systemd-resolved.bak
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
