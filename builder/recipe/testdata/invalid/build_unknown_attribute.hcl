# build has one attribute, type.
# want: 12:13: Unknown build attribute: build has no attribute "typ" (did you mean "type"?)

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

file "/etc/kind" {
  content = build.typ
}
