package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestValidateEveryInstanceType: validate evaluates a recipe for each
// instance type its outputs build, and reports each problem once; a vm
// output without a kernel is refused at its block.
func TestValidateEveryInstanceType(t *testing.T) {
	repoRoot(t)
	stdout, stderr, code := runCLI(t, "", nil, "validate", "cmd/builder/testdata/inspect/types.hcl")
	if code != exitOK || stdout != "cmd/builder/testdata/inspect/types.hcl is valid: image debian-bookworm-amd64-default, "+
		"container: 2 steps enabled, 1 templates; vm: 4 steps enabled, 0 templates\n" {
		t.Errorf("exit %d:\n%s%s", code, stdout, stderr)
	}

	path := t.TempDir() + "/r.hcl"
	writeFile(t, path, `image {
  distribution = "debian"
  release      = "bookworm"
  architecture = "amd64"
}
bootstrap "busybox" {}
file "/etc/x" {
  content = "x"
  owner   = "Bad Owner"
}
output "container" {
  type = "split"
}
output "vm" {
  type = "vm"
}
`)
	stdout, stderr, code = runCLI(t, "", nil, "validate", "--json", path)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1:\n%s%s", code, stdout, stderr)
	}
	var v struct {
		Diagnostics []struct {
			Summary string `json:"summary"`
			Detail  string `json:"detail"`
			Range   struct {
				Start struct {
					Line int `json:"line"`
				} `json:"start"`
			} `json:"range"`
		} `json:"diagnostics"`
	}
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if len(v.Diagnostics) != 2 {
		t.Fatalf("got %d diagnostics, want the owner once and the missing kernel:\n%s", len(v.Diagnostics), stdout)
	}
	owner, boot := v.Diagnostics[0], v.Diagnostics[1]
	if owner.Summary != "Invalid owner" || strings.Contains(owner.Detail, "build.type") || owner.Range.Start.Line != 9 {
		t.Errorf("first diagnostic = %+v, want the owner at line 9, for every type", owner)
	}
	if boot.Summary != "VM image without kernel or bootloader" || boot.Range.Start.Line != 14 ||
		!strings.Contains(boot.Detail, "grub-efi-amd64-signed") || !strings.HasSuffix(boot.Detail, `(With build.type = "vm".)`) {
		t.Errorf("second diagnostic = %+v, want the vm output's missing kernel at line 14", boot)
	}
}
