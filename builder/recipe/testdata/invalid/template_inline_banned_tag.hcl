# An inline template with an extends tag.
# want: 12:13: Forbidden template tag: uses the extends tag, which LXD and Incus refuse to render because it would read other files; put the text in this template instead. Forbidden tags: extends, import, include, ssi. (line 1, column 4 of the template)

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

template "/etc/motd" {
  content = "{% extends \"base.tpl\" %}\n"
}
