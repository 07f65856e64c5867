# bootstrap "image": a simplestreams server excludes a daemon, and an
# image needs an alias or a fingerprint.
# want: 13:1: Missing base image: needs alias = "…"
# want: 15:12: Conflicting image sources: daemon names a daemon
# want: 16:12: Invalid remote: "my remote" is neither an https URL
# want: 16:12: Conflicting image sources: remote names a daemon

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "image" {
  server = "https://127.0.0.1/streams"
  daemon = "lxd"
  remote = "my remote"
}
