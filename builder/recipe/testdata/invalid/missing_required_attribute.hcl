# The image block needs a release.
# want: 4:7: Missing required argument: The argument "release" is required

image {
  distribution = "debian"
}

bootstrap "busybox" {}
