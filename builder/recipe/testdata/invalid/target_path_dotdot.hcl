# Paths may not climb out with "..".
# want: 11:6: Invalid path: "/etc/../../motd" must not contain ".."

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

copy "/etc/../../motd" {
  source = "../files/hostname.tpl"
}
