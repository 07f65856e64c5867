# A bootstrap backend that does not exist.
# want: 9:11: Unknown bootstrap backend: no bootstrap backend "debootstap" (did you mean "debootstrap"?)

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "debootstap" {
  variant = "minbase"
}
