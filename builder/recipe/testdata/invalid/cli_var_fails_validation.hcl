# --var with a value the variable's validation refuses.
# var: architecture=sparc
# want: 9:21: Invalid value for variable: var.architecture is "sparc" (from --var)

variable "architecture" {
  type    = string
  default = "amd64"
  validation {
    condition     = contains(["amd64", "arm64"], var.architecture)
    error_message = "The architecture must be \"amd64\" or \"arm64\"."
  }
}

image {
  distribution = "debian"
  release      = "bookworm"
  architecture = var.architecture
}

bootstrap "busybox" {}
