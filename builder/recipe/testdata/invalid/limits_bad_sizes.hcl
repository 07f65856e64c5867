# Sizes the build's tmpfs mounts cannot take.
# want: 9:14: Invalid size: tmp_size is 0 bytes; it must be at least 1MiB.
# want: 10:14: Invalid size: run_size: "lots" is not a size
# want: 11:14: Invalid size: shm_size: "64 cats" has no unit builder knows
# want: 12:3: Unsupported argument: An argument named "tmp" is not expected here.

limits {
  # 0 would be a tmpfs without a limit.
  tmp_size = 0
  run_size = "lots"
  shm_size = "64 cats"
  tmp      = "1G"
}

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}
