# A test block's mistakes, each at the attribute or label in error; a
# second enabled block with a name is reported at its header, while a
# disabled one may share it.
# want: 21:27: Invalid instance type: A test runs on "container" or "vm", not "virtual-machine".
# want: 22:13: Invalid timeout: "soon" is not a duration
# want: 25:6: Invalid test name: test name "has space" becomes a file name
# want: 26:12: Empty script: The test "has space" has an empty script.
# want: 29:17: Missing required argument: The argument "script" is required
# want: 33:12: Empty on: The test "nowhere" would run nowhere
# want: 36:1: Duplicate test name: "motd" is already used by the test block at testdata/invalid/test_block_mistakes.hcl:19;

image {
  distribution = "debian"
  release      = "bookworm"
}

bootstrap "busybox" {}

test "motd" {
  script  = "grep -q busybox /etc/motd"
  on      = ["container", "virtual-machine"]
  timeout = "soon"
}

test "has space" {
  script = "  \n"
}

test "noscript" {}

test "nowhere" {
  script = "true"
  on     = []
}

test "motd" {
  script = "true"
}

test "motd" {
  enabled = false
  script  = "true"
}
