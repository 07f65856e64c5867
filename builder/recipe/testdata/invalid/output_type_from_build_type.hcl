# Which instance types a recipe builds cannot depend on build.type.
# want: 16:10: Output type depends on build.type: so an output's type cannot be computed from build.type

locals {
  kind = build.type == "vm" ? "vm" : "split"
}

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

output {
  type = local.kind
}
