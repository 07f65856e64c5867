# A repository key given inline and as a file.
# want: 13:14: Conflicting key attributes: Give the signing key either inline with key or as a file with key_file, not both.

image {
  distribution = "debian"
  release      = "bookworm"
}
bootstrap "busybox" {}

repository "extra" {
  url      = "https://apt.example.org/debian"
  key      = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n...\n-----END PGP PUBLIC KEY BLOCK-----\n"
  key_file = "../files/hostname.tpl"
}
