# A recipe without a bootstrap block.
# want: 1:1: Missing bootstrap block: A recipe needs a bootstrap block

image {
  distribution = "debian"
  release      = "bookworm"
}

packages {
  install = ["less"]
}
