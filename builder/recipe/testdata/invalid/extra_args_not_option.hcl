# extra_args may only add options.
# want: 11:36: Invalid extra argument: "bookworm" is not one

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "debootstrap" {
  variant    = "minbase"
  extra_args = ["--no-merged-usr", "bookworm"]
}
