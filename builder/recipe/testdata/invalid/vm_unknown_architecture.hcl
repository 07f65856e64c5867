# A vm image boots through UEFI on amd64 and arm64 only.
# want: 12:1: No boot chain for this architecture: The vm output: virtual machine images are built for amd64 and arm64, not riscv64.

image {
  distribution = "debian"
  release      = "bookworm"
  architecture = "riscv64"
}

bootstrap "busybox" {}

output {
  type = "vm"
}
