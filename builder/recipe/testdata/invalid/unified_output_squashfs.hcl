# A unified image cannot hold a squashfs rootfs.
# want: 13:12: Invalid output combination: rootfs = "squashfs" needs type = "split"

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

output {
  type   = "unified"
  rootfs = "squashfs"
}
