# A debootstrap variant that does not exist.
# want: 10:13: Unknown bootstrap variant: debootstrap has no variant "minbas" (did you mean "minbase"?)

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "debootstrap" {
  variant = "minbas"
}
