# Sizes the build's tmpfs mounts and a tarball's expansion cannot take.
# want: 10:18: Invalid size: tmp_size is 0 bytes; it must be at least 1MiB.
# want: 11:18: Invalid size: run_size: "lots" is not a size
# want: 12:18: Invalid size: shm_size: "64 cats" has no unit builder knows
# want: 13:18: Invalid size: tarball_size: "9000000000T" is more than 8 EiB.
# want: 14:3: Unsupported argument: An argument named "tmp" is not expected here.

limits {
  # 0 would be a tmpfs without a limit.
  tmp_size     = 0
  run_size     = "lots"
  shm_size     = "64 cats"
  tarball_size = "9000000000T"
  tmp          = "1G"
}

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}
