# A template block with both source and content.
# want: 13:13: Conflicting attributes: A template block takes either source or content, not both

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

template "/etc/hostname" {
  content = "{{ container.name }}\n"
  source  = "../files/hostname.tpl"
}
