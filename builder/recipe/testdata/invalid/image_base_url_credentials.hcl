# bootstrap "image": a URL with credentials would be recorded in
# image.json's base, the SBOM and the build's log.
# want: 14:17: Invalid remote: carries credentials
# want: 20:17: Invalid server: carries credentials

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "image" {
  enabled     = true
  alias       = "base"
  remote      = "https://user:secret@127.0.0.1:8443"
}

bootstrap "image" {
  enabled     = false
  alias       = "base"
  server      = "https://token@127.0.0.1/streams"
}
