# A recipe in no particular layout: fmt must align, indent and space it
# without touching comments, heredoc bodies or string contents.

variable "architecture" {
type = string
    default="amd64"   # the host's, usually
  description =    "Debian architecture name"
  validation {
  condition = contains(["amd64","arm64"],var.architecture)
      error_message="The architecture must be \"amd64\" or \"arm64\"."
  }
}

locals {
  cloud=var.variant=="cloud"
  # A comment between attributes breaks the alignment group.
  long_local_name = "x"
  n = 1
}

image {
  name = "debian-${var.release}-${var.architecture}"
  distribution="debian"
    release = var.release
  properties = {
  os="debian"
      release_name = var.release
  }
}

bootstrap "debootstrap" {
  include = [ "systemd-sysv" ,"ifupdown",
      "iproute2",
  ]
  components = ["main"   ]
}

run "configure" {
  stage="post-packages"
    script = <<-EOT
      #!/bin/sh
        set -eu   # heredoc bodies are left alone
      echo   "a  =  b"
  EOT
}

output {
type = "split"   # or unified
  compression    =   "xz"
}
