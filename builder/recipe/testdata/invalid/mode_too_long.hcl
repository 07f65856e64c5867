# A mode with five digits.
# want: 13:13: Invalid mode: mode "12345" must be three or four octal digits

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

file "/usr/local/bin/hello" {
  content = "#!/bin/sh\necho hello\n"
  mode    = "12345"
}
