# A repository URL without a scheme.
# want: 12:9: Invalid repository URL: "deb.example.org/debian" must be an absolute http, https, file

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

repository "extras" {
  url = "deb.example.org/debian"
}
