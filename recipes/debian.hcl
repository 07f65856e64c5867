# Debian bookworm system container and virtual machine, in two variants:
#   default  systemd, systemd-networkd and -resolved, and an ssh server
#   cloud    the same plus cloud-init, configured by LXD's cloud-init.* keys
#
# Two outputs, one build: the steps common to both run once, and the
# steps with `enabled = local.vm` (or `!local.vm`) on top of them for
# that instance type only. The VM adds a kernel, the signed boot chain
# (shim and grub, which builder puts on the disk's EFI partition with
# its grub.cfg), /etc/fstab, networking on enp5s0 and the LXD/Incus
# agent; the container keeps the masks that only make sense there.
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
  vm    = build.type == "vm"
  # The serial console qemu gives a VM, where LXD's console is.
  console = var.architecture == "arm64" ? "ttyAMA0" : "ttyS0"
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

# The VM's kernel (its initramfs is made when it is installed, zstd-
# compressed as initramfs-tools prefers) and the boot chain secure boot
# verifies: shim, signed by Microsoft's UEFI CA, then grub and the
# kernel, signed by Debian. No grub-install and no update-grub: builder
# writes the EFI partition and its grub.cfg itself. The cloud kernel
# has virtio and virtiofs, not 9p: the agent's share comes over
# virtiofs, which LXD and Incus use when virtiofsd is installed.
packages "vm" {
  enabled = local.vm
  install = [
    "linux-image-cloud-${var.architecture}",
    "zstd",
    "shim-signed",
    "grub-efi-${var.architecture}-signed",
  ]
  cleanup = true
}

# On cloud images cloud-init writes its own networkd file for eth0 from
# LXD's network-config template (10-cloud-init-eth0.network, which sorts
# first and so wins); this one is the fallback when cloud-init has none.
file "/etc/systemd/network/eth0.network" {
  enabled = !local.vm
  content = <<-EOT
    [Match]
    Name=eth0

    [Network]
    DHCP=yes
  EOT
  mode    = "0644"
}

# A VM's virtio NIC is enp5s0 under LXD and Incus (the PCI slot they
# give it); cloud-init's file, when there is one, wins as above.
file "/etc/systemd/network/enp5s0.network" {
  enabled = local.vm
  content = <<-EOT
    [Match]
    Name=enp5s0

    [Network]
    DHCP=yes
  EOT
  mode    = "0644"
}

# builder labels the disk's file systems so; the EFI partition is 0077
# as the Debian installer mounts it: it holds nothing for users.
file "/etc/fstab" {
  enabled = local.vm
  content = <<-EOT
    LABEL=rootfs  /          ext4  errors=remount-ro  0  1
    LABEL=UEFI    /boot/efi  vfat  umask=0077         0  2
  EOT
  mode    = "0644"
}

# The LXD and Incus agents (files/vm/, see vm-agent-setup there): units
# that udev starts when the host's virtio serial port appears, which
# copy the agent from the host's config share to a tmpfs and run it.
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

# See configure-container: keeps a privileged container's stop from
# unregistering the host's binfmt_misc handlers. Detaching affects only
# the container's own mount namespace; where the mount cannot be
# detached (an unprivileged container), it cannot be written either.
file "/usr/lib/systemd/system/binfmt-misc-detach.service" {
  enabled = !local.vm
  content = <<-EOT
    [Unit]
    Description=Detach the host's binfmt_misc from this container
    ConditionVirtualization=container
    ConditionPathIsMountPoint=/proc/sys/fs/binfmt_misc
    DefaultDependencies=no
    Before=sysinit.target shutdown.target
    Conflicts=shutdown.target

    [Service]
    Type=oneshot
    ExecStart=-/bin/umount --lazy /proc/sys/fs/binfmt_misc

    [Install]
    WantedBy=sysinit.target
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
    # No need to wait for a network, which an instance may not even have.
    systemctl mask systemd-networkd-wait-online.service
    systemctl enable systemd-networkd.service systemd-resolved.service
    # systemd-resolved's postinst kept the build host's resolv.conf here.
    rm -f /etc/.resolv.conf.systemd-resolved.bak
  EOT
}

run "configure-container" {
  enabled = !local.vm
  stage   = "post-files"
  script  = <<-EOT
    #!/bin/sh
    set -eu
    # Containers have no hardware clock and no consoles beyond LXD's.
    systemctl mask systemd-timesyncd.service getty-static.service
    # Nor can a container register binfmt_misc handlers, which cloud's
    # python3 ships one of: the unit would fail every boot.
    systemctl mask systemd-binfmt.service
    # Nor keep binfmt_misc mounted: in a privileged container it is the
    # host's (LXC binds it in with /proc/sys), and bookworm's
    # systemd-shutdown unregisters every handler in it at each stop,
    # which takes the host's qemu-user handlers away. The unit below
    # detaches it at boot; nothing may mount it again.
    systemctl mask proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount
    systemctl enable binfmt-misc-detach.service
  EOT
}

run "configure-vm" {
  enabled = local.vm
  stage   = "post-files"
  script  = <<-EOT
    #!/bin/sh
    set -eu
    # The EFI partition's mount point (see /etc/fstab).
    mkdir -p /boot/efi
    # A login prompt on the serial console, which is what LXD's console
    # and a bare qemu show, whatever the kernel's command line says.
    systemctl enable serial-getty@${local.console}.service
    systemctl enable lxd-agent.service incus-agent.service
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
  # instance a machine-id and ssh made its own host keys at first boot.
  script = <<-EOT
    #!/bin/sh
    set -eu
    export PATH=/usr/sbin:/usr/bin:/sbin:/bin
    grep -qxE '[0-9a-f]{32}' /etc/machine-id || { echo "machine-id: '$(cat /etc/machine-id)'"; exit 1; }
    for key in rsa ecdsa ed25519; do
      test -s /etc/ssh/ssh_host_$${key}_key || { echo "no ssh host key $key"; exit 1; }
    done
    sshd -t
  EOT
}

test "locale" {
  # /etc/default/locale names a locale the image has: programs then run
  # without "cannot set locale" warnings.
  script = <<-EOT
    #!/bin/sh
    set -eu
    . /etc/default/locale
    test "$LANG" = C.UTF-8
    warnings=$(LC_ALL=$LANG locale 2>&1 >/dev/null)
    if [ -n "$warnings" ]; then
      echo "$warnings"; exit 1
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
  type        = "split"
  compression = "xz"
  rootfs      = "squashfs"
}

# A 4 GiB disk, ext4, secure boot: the defaults, spelled out.
output "vm" {
  type        = "vm"
  size        = "4GiB"
  filesystem  = "ext4"
  secure_boot = true
}
