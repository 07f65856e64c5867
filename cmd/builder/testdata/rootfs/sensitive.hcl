# A busybox build whose run steps print sensitive values, for the
# masking tests: every secret must come out as "(sensitive value)".
variable "token" {
  type      = string
  sensitive = true
}

variable "key" {
  type      = string
  sensitive = true
  default   = "-----BEGIN TEST KEY-----\nkeyline-one-8f3a9c\nkeyline-two-71bd4e\n-----END TEST KEY-----\n"
}

variable "fail" {
  type    = bool
  default = false
}

image {
  distribution = "busybox"
  release      = "sensitive"
  architecture = "amd64"
  description  = "BusyBox with a masked token"
  properties = {
    # Published on purpose: without nonsensitive() this is an error.
    token_sha256 = nonsensitive(sha256(var.token))
  }
}

bootstrap "busybox" {}

environment {
  API_URL = "https://builder:${var.token}@example.org/"
}

run "show" {
  stage = "post-packages"
  environment = {
    TOKEN = var.token
    KEY   = var.key
  }
  script = <<-EOT
    #!/bin/sh
    echo "token is $TOKEN"
    printf 'split: %s' "$TOKEN" | head -c 9; printf '%s\n' "$TOKEN" | tail -c +3
    echo "url is $API_URL"
    echo "$KEY"
    printf %s "$TOKEN" | base64
  EOT
}

file "/etc/owned" {
  content = "owned\n"
  mode    = "0640"
}

run "fail" {
  stage   = "post-files"
  enabled = var.fail
  environment = {
    TOKEN = var.token
  }
  script = "#!/bin/sh\necho \"about to fail with $TOKEN\"\necho \"$TOKEN\" >&2\nexit 3\n"
}

output {
  type        = "split"
  compression = "gzip"
}
