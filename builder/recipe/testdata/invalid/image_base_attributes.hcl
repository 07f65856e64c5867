# bootstrap "image": each attribute checked, with the block's position
# for what is missing.
# want: 17:21: Invalid daemon: must be "lxd" or "incus", not "docker"
# want: 18:21: Invalid remote: must be an absolute https URL
# want: 19:21: Invalid fingerprint: 64 lowercase hexadecimal digits
# want: 20:21: Invalid templates: not "merge"
# want: 21:22: Invalid template path: "etc/hostname" is not
# want: 22:22: Empty property name: drop_properties lists the keys
# want: 23:21: Variant without a server: simplestreams server's images

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "image" {
  daemon          = "docker"
  remote          = "http://127.0.0.1:8443"
  fingerprint     = "ABC"
  templates       = "merge"
  drop_templates  = ["etc/hostname"]
  drop_properties = [" "]
  variant         = "cloud"
}
