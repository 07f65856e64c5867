# Two bootstrap blocks, both enabled.
# want: 13:1: More than one bootstrap: The bootstrap block at testdata/invalid/two_bootstraps.hcl:9 is enabled too

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "debootstrap" {
  variant = "minbase"
}

bootstrap "busybox" {}
