# A list for owner is reported once.
# want: 13:13: Incorrect attribute value type: attribute "owner": string required

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

file "/etc/motd" {
  content = "hello\n"
  owner   = ["root"]
}
