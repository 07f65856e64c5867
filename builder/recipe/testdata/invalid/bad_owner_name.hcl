# An owner name useradd would refuse.
# want: 13:13: Invalid owner: owner "Alice Smith" must be a user or group name

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

file "/home/alice/.profile" {
  content = "umask 022\n"
  owner   = "Alice Smith"
}
