# Bootstrap values that start with "-" would reach debootstrap or
# mmdebstrap as options: refused each, at the value, once.
# want: 17:16: Value read as an option: The suite, "--print-debs", starts with "-": debootstrap (or a command it runs) would take it for an option.
# want: 18:16: Value read as an option: The variant, "-v", starts with "-"
# want: 19:16: Value read as an option: The mirror, "--keyring=/etc/shadow", starts with "-"
# want: 20:16: Value read as an option: The keyring, "--no-check-gpg", starts with "-": debootstrap (or a command it runs) would take it for an option; for a file of that name next to the recipe, write ./--no-check-gpg.
# want: 21:25: Value read as an option: An entry of components, "--no-resolve-deps", starts with "-"
# want: 22:17: Value read as an option: An entry of include, "-x", starts with "-"
# want: 23:17: Value read as an option: An entry of exclude, "--foo", starts with "-"

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "debootstrap" {
  suite      = "--print-debs"
  variant    = "-v"
  mirror     = "--keyring=/etc/shadow"
  keyring    = "--no-check-gpg"
  components = ["main", "--no-resolve-deps"]
  include    = ["-x"]
  exclude    = ["--foo"]
}
