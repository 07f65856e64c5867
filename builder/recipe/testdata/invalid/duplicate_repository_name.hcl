# Two enabled repositories would write the same sources file.
# want: 14:1: Duplicate repository name: The repository name "extra" is already used by the repository block at testdata/invalid/duplicate_repository_name.hcl:10;

image {
  distribution = "debian"
  release      = "bookworm"
}
bootstrap "busybox" {}

repository "extra" {
  url = "https://apt.example.org/debian"
}

repository "extra" {
  url = "https://apt.example.org/other"
}
