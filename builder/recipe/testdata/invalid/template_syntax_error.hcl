# A template file that pongo2 cannot parse.
# want: ../files/syntax_error.tpl:1:29: Invalid template: does not parse: '}}' expected

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

template "/etc/motd" {
  source = "../files/syntax_error.tpl"
}
