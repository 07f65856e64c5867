# A misspelt block type gets a suggestion.
# want: 11:1: Unsupported block type: Blocks of type "package" are not expected here (did you mean "packages"?)

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

package {
  install = ["less"]
}
