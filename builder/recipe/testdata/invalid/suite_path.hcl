# A suite that is a path: debootstrap would source a file of the recipe's.
# want: 11:13: Invalid suite: The suite "../../../tmp/evil" is not a release name: letters, digits and . _ + ~ - only, such as "bookworm" or "bookworm-backports".

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "debootstrap" {
  variant = "minbase"
  suite   = "../../../tmp/evil"
}
