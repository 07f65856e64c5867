# Two different templates would both be templates/hostname.tpl in the image.
# want: 14:1: Duplicate template name: templates/hostname.tpl already holds a different template, from the block at testdata/invalid/duplicate_template_name.hcl:10; set name = "…" on one of them.

image {
  distribution = "debian"
  release      = "bookworm"
}
bootstrap "busybox" {}

template "/etc/hostname" {
  source = "../files/hostname.tpl"
}

template "/etc/mailname" {
  source = "../files/other/hostname.tpl"
}
