# A busybox build with a container output and a vm output, for the tests
# of one build making both. Busybox has no apt: the post-bootstrap run
# puts an apt-get in the image that "installs" fake boot files (vmdisk
# builds the disk from them; nothing boots it), so the vm plan's
# packages step, which the recipe check asks for, runs. Without
# boot_files it lays down none, and the vm output fails to pack.
variable "boot_files" {
  type    = bool
  default = true
}

# The vm output's form: its two files, or one tarball.
variable "unified" {
  type    = bool
  default = false
}

image {
  distribution = "busybox"
  release      = "vm"
  architecture = "amd64"
}

bootstrap "busybox" {}

run "fake-apt" {
  stage  = "post-bootstrap"
  script = <<-EOT
    #!/bin/sh
    set -eu
    mkdir -p /usr/bin
    cat > /usr/bin/apt-get <<'APT'
    #!/bin/sh
    # Not apt: the fake boot files of builder's vm build tests.
    set -eu
    case "${var.boot_files} $* " in
    "true "*" install "*)
      mkdir -p /boot /usr/lib/shim /usr/lib/grub/x86_64-efi-signed
      echo "fake kernel" > /boot/vmlinuz-6.1.0-9-amd64
      echo "fake initrd" > /boot/initrd.img-6.1.0-9-amd64
      echo "fake shim" > /usr/lib/shim/shimx64.efi.signed
      echo "fake grub" > /usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed
      ln -sf boot/vmlinuz-6.1.0-9-amd64 /vmlinuz
      ln -sf boot/initrd.img-6.1.0-9-amd64 /initrd.img
      ;;
    esac
    APT
    chmod 0755 /usr/bin/apt-get
  EOT
}

packages "boot" {
  enabled = build.type == "vm"
  install = ["linux-image-amd64", "grub-efi-amd64-signed", "shim-signed"]
}

file "/etc/motd" {
  content = "one recipe, a container and a vm\n"
}

output "lxd" {
  type        = "split"
  compression = "gzip"
  rootfs      = "tar"
}

output "vm" {
  type        = "vm"
  size        = "512MiB"
  compression = "gzip"
  unified     = var.unified
}
