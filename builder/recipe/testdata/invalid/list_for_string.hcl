# A list where the image takes a string.
# want: 5:18: Incorrect attribute value type: attribute "distribution": string required

image {
  distribution = ["debian"]
  release      = "bookworm"
}

bootstrap "busybox" {}
