# A reference to a local that is not defined.
# want: 9:18: Reference to undeclared local value: There is no local value named "distribution"; define it in a locals block.

locals {
  distro = "debian"
}

image {
  distribution = local.distribution
  release      = "bookworm"
}

bootstrap "busybox" {}
