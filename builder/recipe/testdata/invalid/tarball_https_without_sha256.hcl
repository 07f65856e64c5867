# A downloaded tarball must be pinned by its sha256.
# want: 10:12: Missing sha256: needs sha256 = "…"

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "tarball" {
  source = "https://images.example.org/rootfs.tar.xz"
}
