# An environment variable name with a dash.
# want: 13:3: Invalid environment variable name: "http-proxy" is not a valid environment variable name

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

environment {
  LANG        = "C.UTF-8"
  http-proxy  = "http://proxy:3128"
}
