# A busybox binary that starts with "-".
# want: 10:12: Value read as an option: The binary, "--list", starts with "-": the bootstrap tool (or a command it runs) would take it for an option; for a file of that name next to the recipe, write ./--list.

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {
  binary = "--list"
}
