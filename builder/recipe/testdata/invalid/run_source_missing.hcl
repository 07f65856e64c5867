# A run script file that does not exist is reported once.
# want: 12:12: Missing source: testdata/invalid/setup.sh cannot be read: no such file or directory.

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

run "setup" {
  source = "setup.sh"
}
