package recipe

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/builder-images/builder/builder/steps"
)

// TestCopyOwnership checks what a copy block's ownership attributes
// mean: nothing set keeps modes and root, an owner alone keeps the
// modes (mode 0), a mode applies as written.
func TestCopyOwnership(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "overlay"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := `image {
  distribution = "d"
  release      = "r"
  architecture = "amd64"
}
bootstrap "busybox" {}
copy "/a" { source = "overlay" }
copy "/b" {
  source = "overlay"
  owner  = "www-data"
}
copy "/c" {
  source = "overlay"
  mode   = "0640"
}
`
	path := filepath.Join(dir, "r.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := mustLoad(t, path, Options{})
	want := map[string]*steps.Ownership{
		"/a": nil,
		"/b": {Mode: 0, Owner: "www-data", Group: "root"},
		"/c": {Mode: 0o640, Owner: "root", Group: "root"},
	}
	for _, s := range plan.EnabledSteps() {
		c, ok := s.Action.(*steps.Copy)
		if !ok {
			continue
		}
		w := want[c.Path]
		switch {
		case w == nil && c.Ownership != nil, w != nil && (c.Ownership == nil || *c.Ownership != *w):
			t.Errorf("copy %s ownership = %+v, want %+v", c.Path, c.Ownership, w)
		}
	}
}

// TestDisabledBlocksDoNotReadFiles: a variant's files may exist only
// where that variant is built, so disabled blocks' files are not checked,
// while enabled ones are.
func TestDisabledBlocksDoNotReadFiles(t *testing.T) {
	dir := t.TempDir()
	src := `variable "arm" { default = false }
image {
  distribution = "d"
  release      = "r"
  architecture = "amd64"
}
bootstrap "busybox" { enabled = !var.arm }
bootstrap "tarball" {
  enabled = var.arm
  source  = "missing-arm64.tar.gz"
}
bootstrap "busybox" {
  enabled = var.arm && false
  binary  = "missing-busybox"
}
file "/etc/x" {
  enabled = var.arm
  source  = "missing-file"
}
copy "/srv" {
  enabled = var.arm
  source  = "missing-dir"
}
run "r" {
  enabled = var.arm
  source  = "missing.sh"
}
repository "extra" {
  enabled  = var.arm
  url      = "https://apt.example.org/debian"
  key_file = "missing.gpg"
}
template "/etc/hostname" {
  enabled = var.arm
  source  = "missing.tpl"
}
`
	path := filepath.Join(dir, "r.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := mustLoad(t, path, Options{})
	if len(plan.Templates) != 1 || plan.Templates[0].Enabled || plan.Templates[0].Name != "missing.tpl" {
		t.Errorf("the disabled template should be listed, unread: %+v", plan.Templates)
	}
	_, diags := NewLoader().Load(path, Options{HostArch: "amd64", Vars: []string{"arm=true"}})
	missing := 0
	for _, d := range diags {
		if d.Summary == "Missing source" || d.Summary == "Missing key file" {
			missing++
		}
	}
	// tarball, file, copy, run, key file and template; the busybox
	// binary stays unchecked because that block is still disabled.
	if missing != 6 {
		t.Errorf("enabled blocks: %d missing-file errors, want 6:\n%s", missing, diags.Error())
	}
}
