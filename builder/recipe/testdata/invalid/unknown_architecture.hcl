# An architecture builder does not know.
# want: 7:18: Unknown architecture: There is no architecture "sparc64". Architectures, in Debian's spelling: amd64, arm64

image {
  distribution = "debian"
  release      = "bookworm"
  architecture = "sparc64"
}

bootstrap "busybox" {}
