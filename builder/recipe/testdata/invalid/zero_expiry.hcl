# An expiry of zero.
# want: 7:18: Invalid expiry: "0d" is zero; use a positive duration

image {
  distribution = "debian"
  release      = "bookworm"
  expiry       = "0d"
}

bootstrap "busybox" {}
