# A template file with an include tag, which LXD refuses to render.
# want: ../files/banned_include.tpl:2:4: Forbidden template tag: uses the include tag, which LXD and Incus refuse to render

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

template "/etc/motd" {
  source = "../files/banned_include.tpl"
}
