# A misspelt required attribute is reported once, with a suggestion, not
# also as missing.
# want: 13:3: Unsupported argument: An argument named "sorce" is not expected here. Did you mean "source"?

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

copy "/etc/motd" {
  sorce = "../files/hostname.tpl"
}
