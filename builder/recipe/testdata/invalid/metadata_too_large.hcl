# metadata.yaml larger than the 1 MiB LXD and Incus read: refused at the
# largest part, here one entry of the image's properties (the build
# refused it only when packing, after the whole rootfs stage).
# want: 12:5: Metadata too large: metadata.yaml would be

image {
  distribution = "debian"
  release      = "bookworm"
  description  = format("%20000s", "long")
  properties = {
    os    = "debian"
    notes = format("%1040000s", "padding")
  }
}

bootstrap "busybox" {}

template "/etc/hostname" {
  content    = "{{ instance.name }}\n"
  properties = { note = format("%10000s", "x") }
}
