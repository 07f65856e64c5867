# Every kind of step on a busybox system.
image {
  distribution = "busybox"
  release      = "test"
  architecture = "amd64"
}

bootstrap "busybox" {}

environment {
  GREETING = "hello"
}

run "early" {
  stage  = "post-bootstrap"
  script = "echo early > /etc/early\n"
}

repository "extra" {
  url        = "https://apt.example.org/debian"
  suites     = ["stable"]
  components = ["main", "contrib"]
  key        = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a real key\n-----END PGP PUBLIC KEY BLOCK-----\n"
}

file "/etc/motd" {
  content = "welcome\n"
  mode    = "0640"
  owner   = "nobody"
  group   = "nogroup"
}

copy "/srv/data" {
  source = "data"
}

remove "/etc/early" {}

run "late" {
  stage       = "post-files"
  environment = { WHO = "world" }
  script      = <<-EOT
    #!/bin/sh
    set -eu
    echo "$GREETING $WHO" > /etc/greeting
    test -c /dev/null && test -e /dev/pts/ptmx && test -d /proc/self
    test -f /usr/sbin/policy-rc.d
    hostname > /etc/build-hostname
  EOT
}
