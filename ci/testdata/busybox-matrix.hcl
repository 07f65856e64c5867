# A busybox recipe with a matrix, for ci/simulate-nightly.sh's test: three
# variants, built in seconds. Each boots under builder test (the network
# and hostname bits are recipes/busybox.hcl's); the "broken" variant fails
# its test block, so the nightly must not publish it.
variable "variant" {
  type    = string
  default = "default"
}

image {
  distribution = "busybox"
  release      = "nightly"
  architecture = "amd64"
  variant      = var.variant
}

bootstrap "busybox" {}

file "/etc/variant" {
  content = "${var.variant}\n"
}

file "/etc/init.d/rcS" {
  source = "../../recipes/files/busybox/rcS"
  mode   = "0755"
}

file "/usr/share/udhcpc/default.script" {
  source = "../../recipes/files/busybox/default.script"
  mode   = "0755"
}

template "/etc/hostname" {
  source = "../../templates/hostname.tpl"
}

template "/etc/hosts" {
  source = "../../templates/hosts.tpl"
}

test "variant" {
  script = <<-EOT
    #!/bin/sh
    # The gate under test: this image must never be published.
    test "$(cat /etc/variant)" != broken
  EOT
}

matrix {
  variant = ["default", "tiny", "broken"]
}
