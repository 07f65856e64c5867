# A small arm64 Debian (mmdebstrap's essential set) built under qemu-user
# binfmt emulation, for the foreign-architecture import test.
image {
  distribution = "debian"
  release      = "bookworm"
  architecture = "arm64"
  variant      = "essential"
}

bootstrap "mmdebstrap" {
  variant = "essential"
}

run "arch" {
  stage  = "post-files"
  script = "#!/bin/sh\nset -eu\ndpkg --print-architecture > /etc/builder-arch\n"
}

output {
  type        = "unified"
  compression = "gzip"
}
