# Tarballs are downloaded over https only.
# want: 10:12: Invalid source: "http://images.example.org/rootfs.tar.xz" must be an absolute https URL

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "tarball" {
  source = "http://images.example.org/rootfs.tar.xz"
  sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
}
