# A test's script goes into image.json, which is published: a secret in
# it is an error unless wrapped in nonsensitive().
# want: 18:12: Sensitive value in public image metadata: script of test "login" is computed from a sensitive value

variable "password" {
  sensitive = true
  default   = "hunter2"
}

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

test "login" {
  script = "echo ${var.password} | su -c true user"
}
