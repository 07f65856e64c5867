# A busybox build with two container outputs, packed from one rootfs:
# the tests of builds that make several outputs.
image {
  distribution = "busybox"
  release      = "outputs"
  architecture = "amd64"
}

bootstrap "busybox" {}

file "/etc/motd" {
  content = "one rootfs, two images\n"
}

output "lxd" {
  type        = "split"
  compression = "gzip"
  rootfs      = "tar"
}

output "unified" {
  type        = "unified"
  compression = "gzip"
}
