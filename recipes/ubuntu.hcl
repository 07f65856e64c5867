# Ubuntu noble system container and virtual machine with
# systemd-networkd. The VM output adds, as recipes/debian.hcl's does, a
# kernel, the signed boot chain, /etc/fstab, networking on enp5s0 and
# the LXD/Incus agent (steps with `enabled = local.vm`).
#
# debootstrap checks the archive with Ubuntu's archive keyring. Ubuntu's
# ubuntu-keyring package installs it; Debian 12 does not package it, so
# there give its https URL (the archive serves it as
# project/ubuntu-archive-keyring.gpg):
#
#   builder build recipes/ubuntu.hcl --var keyring=https://…/ubuntu-archive-keyring.gpg
#
# builder fetches it at build time and keeps only the key pinned below,
# so a changed or forged file fails the build. Debian 12's debootstrap has
# no noble script either: builder runs it with gutsy's, as debootstrap
# does every Ubuntu suite since gutsy. The mirror defaults to the one
# that script names.

variable "release" {
  type        = string
  default     = "noble"
  description = "Ubuntu release (suite) to bootstrap"
}

variable "architecture" {
  type        = string
  default     = "amd64"
  description = "Ubuntu architecture name"
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

variable "keyring" {
  type        = string
  default     = "/usr/share/keyrings/ubuntu-archive-keyring.gpg"
  description = "Ubuntu's archive keyring: a file on the build host, or its https URL"
}

variable "mirror" {
  type        = string
  default     = ""
  description = "Ubuntu mirror URL; empty means debootstrap's own default"
}

locals {
  cloud = var.variant == "cloud"
  vm    = build.type == "vm"
  # The serial console qemu gives a VM, where LXD's console is.
  console = var.architecture == "arm64" ? "ttyAMA0" : "ttyS0"
}

image {
  distribution = "ubuntu"
  release      = var.release
  architecture = var.architecture
  variant      = var.variant
  description  = "Ubuntu ${var.release} ${var.architecture} (${var.variant})"
  properties = {
    os = "ubuntu"
  }
}

bootstrap "debootstrap" {
  suite   = var.release
  variant = "minbase"
  mirror  = var.mirror
  keyring = var.keyring
  # Ubuntu Archive Automatic Signing Key (2018), which signs noble; the
  # keyring's other keys are left out.
  keyring_fingerprints = ["F6EC B376 2474 EDA9 D21B  7022 8719 20D1 991B C93C"]
  components           = ["main", "universe"]
  include              = ["systemd-sysv", "systemd-resolved", "iproute2", "ca-certificates"]
}

environment {
  DEBIAN_FRONTEND = "noninteractive"
}

packages {
  update  = true
  upgrade = true
  install = ["openssh-server", "sudo", "less"]
  cleanup = true
}

packages "cloud" {
  enabled = local.cloud
  install = ["cloud-init"]
  cleanup = true
}

# The VM's kernel (linux-image-virtual: the signed generic kernel with
# the modules a VM needs, virtio, 9p and virtiofs among them), udev for
# its devices and the agent's rule, and the boot chain secure boot
# verifies: shim, signed by Microsoft, then grub and the kernel, signed
# by Canonical. builder writes the EFI partition and grub.cfg itself.
packages "vm" {
  enabled = local.vm
  install = [
    "linux-image-virtual",
    "udev",
    "zstd",
    "shim-signed",
    "grub-efi-${var.architecture}-signed",
  ]
  cleanup = true
}

file "/etc/systemd/network/10-eth0.network" {
  enabled = !local.vm
  content = <<-EOT
    [Match]
    Name=eth0

    [Network]
    DHCP=yes
  EOT
}

# A VM's virtio NIC is enp5s0 under LXD and Incus.
file "/etc/systemd/network/10-enp5s0.network" {
  enabled = local.vm
  content = <<-EOT
    [Match]
    Name=enp5s0

    [Network]
    DHCP=yes
  EOT
}

# builder labels the disk's file systems so.
file "/etc/fstab" {
  enabled = local.vm
  content = <<-EOT
    LABEL=rootfs  /          ext4  errors=remount-ro  0  1
    LABEL=UEFI    /boot/efi  vfat  umask=0077         0  2
  EOT
}

# The LXD and Incus agents: see recipes/debian.hcl and files/vm/.
file "/usr/lib/systemd/system/lxd-agent.service" {
  enabled = local.vm
  source  = "files/vm/lxd-agent.service"
}

file "/usr/lib/systemd/system/incus-agent.service" {
  enabled = local.vm
  source  = "files/vm/incus-agent.service"
}

file "/usr/lib/udev/rules.d/99-lxd-agent.rules" {
  enabled = local.vm
  source  = "files/vm/99-lxd-agent.rules"
}

file "/usr/lib/udev/rules.d/99-incus-agent.rules" {
  enabled = local.vm
  source  = "files/vm/99-incus-agent.rules"
}

file "/usr/libexec/vm-agent-setup" {
  enabled = local.vm
  source  = "files/vm/vm-agent-setup"
  mode    = "0755"
}

run "enable-networkd" {
  stage  = "post-files"
  script = <<-EOT
    #!/bin/sh
    set -eu
    systemctl enable systemd-networkd.service systemd-resolved.service
    systemctl mask systemd-networkd-wait-online.service
  EOT
}

run "configure-container" {
  enabled = !local.vm
  stage   = "post-files"
  script  = <<-EOT
    #!/bin/sh
    set -eu
    # A container cannot register binfmt_misc handlers, and in a
    # privileged one binfmt_misc is the host's, whose handlers a
    # systemd-shutdown that unregisters them would take away at each stop.
    systemctl mask systemd-binfmt.service proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount
  EOT
}

run "configure-vm" {
  enabled = local.vm
  stage   = "post-files"
  script  = <<-EOT
    #!/bin/sh
    set -eu
    mkdir -p /boot/efi
    # A login prompt on the serial console, LXD's console.
    systemctl enable serial-getty@${local.console}.service
    systemctl enable lxd-agent.service incus-agent.service
  EOT
}

template "/etc/hostname" {
  source = "../templates/hostname.tpl"
}

template "/etc/hosts" {
  source = "../templates/hosts.tpl"
}

template "/var/lib/cloud/seed/nocloud-net/meta-data" {
  enabled = local.cloud
  source  = "../templates/cloud-init-meta-data.tpl"
}

template "/var/lib/cloud/seed/nocloud-net/user-data" {
  enabled    = local.cloud
  source     = "../templates/cloud-init-user-data.tpl"
  properties = { default = "#cloud-config\n{}\n" }
}

template "/var/lib/cloud/seed/nocloud-net/vendor-data" {
  enabled    = local.cloud
  source     = "../templates/cloud-init-vendor-data.tpl"
  properties = { default = "#cloud-config\n{}\n" }
}

template "/var/lib/cloud/seed/nocloud-net/network-config" {
  enabled = local.cloud
  source  = "../templates/cloud-init-network-config.tpl"
}

# builder test runs these in each booted instance, after its own checks
# (running, hostname, network, cloud-init): what this recipe promises
# beyond booting.
test "packages" {
  # Every package fully installed and dependencies whole, offline: the
  # build emptied apt's lists, and an image must not need them to be
  # consistent.
  script = <<-EOT
    #!/bin/sh
    set -eu
    export PATH=/usr/sbin:/usr/bin:/sbin:/bin
    apt-get check -qq
    audit=$(dpkg --audit)
    if [ -n "$audit" ]; then
      echo "dpkg --audit:"; echo "$audit"; exit 1
    fi
  EOT
}

test "identity" {
  # The build left no identity behind (see finalize): systemd made this
  # instance a machine-id, and ssh makes its own host keys when it first
  # starts. Ubuntu starts ssh on the first connection (ssh.socket), so
  # the keys are checked once it runs.
  script = <<-EOT
    #!/bin/sh
    set -eu
    export PATH=/usr/sbin:/usr/bin:/sbin:/bin
    grep -qxE '[0-9a-f]{32}' /etc/machine-id || { echo "machine-id: '$(cat /etc/machine-id)'"; exit 1; }
    if systemctl is-active -q ssh.service; then
      for key in rsa ecdsa ed25519; do
        test -s /etc/ssh/ssh_host_$${key}_key || { echo "no ssh host key $key"; exit 1; }
      done
      sshd -t
    fi
  EOT
}

test "boot" {
  # The VM booted through UEFI from the disk builder laid out.
  on     = ["vm"]
  script = <<-EOT
    #!/bin/sh
    set -eu
    export PATH=/usr/sbin:/usr/bin:/sbin:/bin
    test -d /sys/firmware/efi || { echo "not booted through UEFI"; exit 1; }
    test "$(findmnt -n -o FSTYPE /)" = ext4
    findmnt -n /boot/efi
  EOT
}

output "container" {
  type = "split"
}

output "vm" {
  type = "vm"
}
