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
    # The build's kernel filesystems: sysfs and /proc/sys read-only, its
    # own tmpfs /dev/shm, /run and /tmp.
    grep -q '^sysfs /sys sysfs ro,' /proc/mounts
    grep -q ' /proc/sys proc ro,' /proc/mounts
    for d in /dev /dev/shm /run /tmp; do grep -q "^tmpfs $d tmpfs " /proc/mounts; done
    grep -q '^devpts /dev/pts devpts ' /proc/mounts
    cp /etc/resolv.conf /root/resolv-during-build
    # Setting the hostname needs SYS_ADMIN, which a step does not keep
    # (and the build has its own UTS namespace besides).
    ! hostname builder-uts-test 2>/dev/null
  EOT
}
