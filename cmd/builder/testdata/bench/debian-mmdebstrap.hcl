# The benchmark's side of "builder against the by-hand pipeline"
# (by-hand.sh): the same Debian, the same packages, a split image with a
# gzip rootfs tarball, imported into LXD.
image {
  distribution = "debian"
  release      = "bookworm"
  architecture = "amd64"
  name         = "bench-mmdebstrap"
}

bootstrap "mmdebstrap" {
  variant = "minbase"
  include = ["systemd-sysv", "ifupdown", "iproute2", "isc-dhcp-client", "ca-certificates"]
}

packages {
  update  = true
  install = ["openssh-server", "less", "vim-tiny", "locales"]
  cleanup = true
}

output {
  type        = "split"
  rootfs      = "tar"
  compression = "gzip"
}
