# An output type that does not exist.
# want: 12:10: Invalid output type: must be "split" (a metadata tarball and a rootfs file), "unified" (one tarball) or "vm" (a virtual machine's disk image), not "single"

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

output {
  type = "single"
}
