# Steps run by stage, in recipe order within a stage; templates take
# their names from their source or path.

image {
  distribution = "debian"
  release      = "bookworm"
}

run "last" {
  stage  = "post-files"
  script = "echo last"
}

file "/etc/motd" {
  content = "hello\n"
  mode    = "0640"
  owner   = "root"
  group   = "adm"
}

run "first" {
  stage  = "post-bootstrap"
  script = "echo first"
}

packages {
  install = ["less", "vim-tiny", "libc6:arm64", "tzdata=2024a-0+deb12u1"]
}

bootstrap "busybox" {}

template "/etc/hostname" {
  source = "../files/hostname.tpl"
  when   = ["create", "copy"]
}

template "/etc/issue" {
  content = "Welcome to {{ container.name }}\n"
  when    = ["start"]
}
