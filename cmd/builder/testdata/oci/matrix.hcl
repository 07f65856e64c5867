# One OCI image reference, built for two architectures: each job picks
# its manifest from the image's index.
variable "image" { default = "127.0.0.1:5000/base:v1" }
variable "architecture" { default = "amd64" }

matrix {
  architecture = ["amd64", "arm64"]
}

image {
  name         = "oci-${var.architecture}"
  distribution = "busybox"
  release      = "oci"
  architecture = var.architecture
}

bootstrap "oci" {
  image = var.image
}
