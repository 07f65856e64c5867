# Numeric owners beyond uid_t: 4294967295 is (uid_t)-1, which chown reads
# as "leave unchanged"; larger ones do not fit at all. Found at build time
# before, or never for a template's uid and gid.
# want: 18:13: Invalid owner: owner 4294967295 is not a valid id: numeric ids go from 0 to 4294967294
# want: 24:12: Invalid group: group 99999999999999999999 is not a valid id
# want: 29:13: Invalid uid: uid 4294967295 is not a valid id
# want: 30:13: Invalid gid: gid 18446744073709551616 is not a valid id

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

file "/etc/motd" {
  content = "hello\n"
  owner   = "4294967295"
  group   = "4294967294"
}

copy "/srv/files" {
  source = "../files"
  group  = "99999999999999999999"
}

template "/etc/hostname" {
  content = "{{ instance.name }}\n"
  uid     = "4294967295"
  gid     = "18446744073709551616"
}
