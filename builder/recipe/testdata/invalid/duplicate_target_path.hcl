# Two enabled blocks write the same file.
# want: 15:1: Duplicate target path: The path /etc/./motd (that is, /etc/motd) is already used by the file block at testdata/invalid/duplicate_target_path.hcl:11;

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

file "/etc/motd" {
  content = "hello\n"
}

copy "/etc/./motd" {
  source = "../files/hostname.tpl"
}
