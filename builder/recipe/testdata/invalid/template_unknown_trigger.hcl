# A template trigger LXD does not know.
# want: 13:23: Unknown template trigger: "boot" is not a template trigger

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

template "/etc/hostname" {
  source = "../files/hostname.tpl"
  when   = ["create", "boot"]
}
