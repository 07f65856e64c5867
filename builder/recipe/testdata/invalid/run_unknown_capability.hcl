# A run step asking for a capability the kernel does not have.
# want: 13:32: Unknown capability: "SYS_ADMN" is not a Linux capability: give a name of capabilities(7) such as "SYS_ADMIN", or "ALL" for all of them (did you mean "SYS_ADMIN"?)

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

run "mount-things" {
  script       = "mount -t tmpfs tmpfs /mnt"
  capabilities = ["CAP_CHOWN", "SYS_ADMN"]
}
