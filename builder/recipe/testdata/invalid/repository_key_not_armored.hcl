# An inline key that is not ASCII-armored.
# want: 13:9: Invalid repository key: key must hold an ASCII-armored OpenPGP public key

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

repository "extras" {
  url = "https://deb.example.org/debian"
  key = "0x1234ABCD"
}
