# A mode with a digit that is not octal.
# want: 13:13: Invalid mode: mode "0999" must be three or four octal digits

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

file "/etc/motd" {
  content = "hello\n"
  mode    = "0999"
}
