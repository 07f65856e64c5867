# A serial that is not YYYYMMDD[_hhmm].
# want: 7:18: Invalid serial: serial "2024-05-01" must have the form YYYYMMDD or YYYYMMDD_hhmm

image {
  distribution = "debian"
  release      = "bookworm"
  serial       = "2024-05-01"
}

bootstrap "busybox" {}
