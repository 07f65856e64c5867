# /run is the build's tmpfs while steps run: the file would be lost.
# want: 10:6: Path outside the image: During the build /run is the build's own filesystem (proc, sysfs or a tmpfs), so a file block there would not reach the image

image {
  distribution = "debian"
  release      = "bookworm"
}
bootstrap "busybox" {}

file "/run/app.pid" {
  content = "1\n"
}

# Templates render inside the instance, where /run is real.
template "/run/motd" {
  content = "hello\n"
}
