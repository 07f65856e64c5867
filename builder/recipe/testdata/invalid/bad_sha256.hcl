# A sha256 that is too short.
# want: 11:12: Invalid sha256: must be 64 lowercase hexadecimal digits

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "tarball" {
  source = "https://images.example.org/rootfs.tar.xz"
  sha256 = "9f86d081884c7d659a2feaa0c55ad015"
}
