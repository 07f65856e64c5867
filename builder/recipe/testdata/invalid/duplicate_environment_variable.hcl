# The same variable in two environment blocks.
# want: 15:3: Duplicate environment variable: LANG is already set at testdata/invalid/duplicate_environment_variable.hcl:11.

image {
  distribution = "debian"
  release      = "bookworm"
}
bootstrap "busybox" {}

environment {
  LANG = "C.UTF-8"
}

environment {
  LANG = "en_US.UTF-8"
}
