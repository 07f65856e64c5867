# Many templates' properties together pass 1 MiB of metadata.yaml: the
# error points at the largest template's properties.
# want: 19:16: Metadata too large: the largest part is the template "/etc/b"

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

template "/etc/a" {
  content    = "a\n"
  properties = { text = format("%500000s", "a") }
}

template "/etc/b" {
  content    = "b\n"
  properties = merge({ text = format("%560000s", "b") }, {})
}

template "/etc/c" {
  content    = "c\n"
  properties = { text = format("%100000s", "c") }
  enabled    = false
}
