# Two outputs with one name: the second is refused, naming the first.
# want: 15:8: Duplicate output block: An output named "img" is already defined at testdata/invalid/output_duplicate_name.hcl:11

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

output "img" {
  type = "split"
}

output "img" {
  type = "unified"
}
