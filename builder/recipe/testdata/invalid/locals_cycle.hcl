# Locals that refer to each other; c only depends on the cycle and is
# not named as part of it.
# want: 6:3: Cycle in local values: in a cycle: local.a, local.b. Break

locals {
  a = local.b
  b = "${local.a}-x"
  c = local.a
}

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}
