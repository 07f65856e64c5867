# A keyring from a URL must be pinned to its keys' fingerprints, and
# fingerprints must be whole (a short key ID can be forged).
# want: 15:13: Missing keyring_fingerprints: A keyring downloaded from https://archive.example/k.gpg needs keyring_fingerprints
# want: 20:26: Invalid keyring: The keyring "http://archive.example/k.gpg" must be an absolute https URL.
# want: 21:27: Invalid fingerprint: "871920D1991BC93C" is not an OpenPGP fingerprint
# want: 26:26: Fingerprints without a keyring: keyring_fingerprints pins the keys of keyring, which is not set

image {
  distribution = "ubuntu"
  release      = "noble"
}

bootstrap "debootstrap" {
  enabled = true
  keyring = "https://archive.example/k.gpg"
}

bootstrap "mmdebstrap" {
  enabled              = false
  keyring              = "http://archive.example/k.gpg"
  keyring_fingerprints = ["871920D1991BC93C"]
}

bootstrap "debootstrap" {
  enabled              = false
  keyring_fingerprints = ["F6ECB3762474EDA9D21B7022871920D1991BC93C"]
}
