# Debian package names are lowercase.
# want: 12:32: Invalid package name: "Vim" is not a package name: lowercase letters

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

packages {
  install = ["openssh-server", "Vim"]
}
