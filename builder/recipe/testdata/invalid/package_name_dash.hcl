# A package name that apt would read as an option.
# want: 12:22: Invalid package name: "-y" is not a package name

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

packages {
  install = ["less", "-y"]
}
