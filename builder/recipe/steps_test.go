package recipe

import (
	"os"
	"path/filepath"
	"testing"
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
	want := map[string]*Ownership{
		"/a": nil,
		"/b": {Mode: 0, Owner: "www-data", Group: "root"},
		"/c": {Mode: 0o640, Owner: "root", Group: "root"},
	}
	for _, s := range plan.EnabledSteps() {
		c, ok := s.Action.(*Copy)
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
