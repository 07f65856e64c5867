# A template file with an import tag.
# want: ../files/banned_import.tpl:2:4: Forbidden template tag: uses the import tag, which LXD and Incus refuse to render

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

template "/etc/motd" {
  source = "../files/banned_import.tpl"
}
