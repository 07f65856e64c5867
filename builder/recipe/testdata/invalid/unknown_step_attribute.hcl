# An attribute the run block does not take.
# want: 13:3: Unsupported argument: An argument named "shell" is not expected here.

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

run "hello" {
  script = "echo hello"
  shell  = "/bin/bash"
}
