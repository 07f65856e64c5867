# An alias LXD and Incus would refuse, and one listed twice.
# want: 8:32: Invalid alias: The alias "debian stable" contains white space.
# want: 8:49: Duplicate alias: The alias "debian/12" is listed twice.

image {
  distribution = "debian"
  release      = "bookworm"
  aliases      = ["debian/12", "debian stable", "debian/12"]
}

bootstrap "busybox" {}
