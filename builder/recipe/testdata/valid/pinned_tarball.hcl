# A downloaded tarball pinned by its sha256, packed as one zstd tarball.

image {
  distribution = "alpine"
  release      = "3.20"
  expiry       = "never"
  serial       = "20240501_1200"
}

bootstrap "tarball" {
  source = "https://images.example.org/rootfs.tar.xz"
  sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
}

output {
  type        = "unified"
  compression = "zstd-19"
}
