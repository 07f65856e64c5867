# Two enabled templates render into the same path.
# want: 14:1: Duplicate template path: The template path /etc/hostname is already used by the template block at testdata/invalid/duplicate_template_path.hcl:10;

image {
  distribution = "debian"
  release      = "bookworm"
}
bootstrap "busybox" {}

template "/etc/hostname" {
  source = "../files/hostname.tpl"
}

template "/etc/hostname" {
  content = "{{ container.name }}\n"
  name    = "hostname-inline.tpl"
}
