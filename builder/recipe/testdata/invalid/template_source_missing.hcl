# A template source that does not exist.
# want: 12:12: Missing source: testdata/files/nosuch.tpl cannot be read: no such file or directory.

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

template "/etc/hostname" {
  source = "../files/nosuch.tpl"
}
