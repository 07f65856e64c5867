# A busybox build with a step in each cache group, driven by variables,
# for the stage cache tests.
variable "greeting" { default = "hello" }
variable "tool" { default = "one" }

image {
  distribution = "busybox"
  release      = "cached"
  architecture = "amd64"
}

bootstrap "busybox" {}

run "setup" {
  stage  = "post-bootstrap"
  script = "#!/bin/sh\necho ${var.tool} > /etc/tool\n"
}

file "/etc/greeting" {
  content = "${var.greeting}\n"
}

output {
  type        = "split"
  compression = "gzip"
}
