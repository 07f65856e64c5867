# An expiry with a unit that does not exist.
# want: 7:18: Invalid expiry: "30x" is not a duration

image {
  distribution = "debian"
  release      = "bookworm"
  expiry       = "30x"
}

bootstrap "busybox" {}
