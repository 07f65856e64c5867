# Three unrelated mistakes are all reported, each once.
# want: 13:1: Unsupported block type: "packges" are not expected here (did you mean "packages"?)
# want: 19:13: Invalid mode: mode "0648" must be three or four octal digits
# want: 24:32: Unknown template trigger: "reboot" is not a template trigger

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

packges {
  install = ["less"]
}

file "/etc/motd" {
  content = "hello\n"
  mode    = "0648"
}

template "/etc/hostname" {
  source = "../files/hostname.tpl"
  when   = ["create", "start", "reboot"]
}
