package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSymlinkSources: validate and the build agree on file and copy
// sources that are host symlinks. Both follow a link the recipe names
// (the copy of a linked file failed with "too many levels of symbolic
// links" after validate had accepted it); both refuse a link that leads
// nowhere, validate at the source attribute.
func TestSymlinkSources(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "files/tree"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "files/motd"), "from the target\n")
	writeFile(t, filepath.Join(dir, "files/tree/a.txt"), "a\n")
	for link, target := range map[string]string{"motd.link": "files/motd", "tree.link": "files/tree", "dangling.link": "files/gone"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	head := "image {\n  distribution = \"busybox\"\n  release = \"test\"\n  architecture = \"amd64\"\n}\nbootstrap \"busybox\" {}\n"
	good := filepath.Join(dir, "good.hcl")
	writeFile(t, good, head+`copy "/etc/copied" { source = "motd.link" }
file "/etc/filed" { source = "motd.link" }
copy "/srv/tree" { source = "tree.link" }
`)
	if out, code := runBuilderCode(t, nil, "validate", good); code != 0 {
		t.Fatalf("validate: exit %d\n%s", code, out)
	}
	root := filepath.Join(dir, "rootfs")
	if out, code := runBuilderCode(t, nil, "rootfs", good, root); code != 0 {
		t.Fatalf("validate accepted the recipe, the build failed: exit %d\n%s", code, out)
	}
	for p, want := range map[string]string{"etc/copied": "from the target\n", "etc/filed": "from the target\n", "srv/tree/a.txt": "a\n"} {
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || string(got) != want {
			t.Errorf("/%s = %q, %v; want %q", p, got, err, want)
		}
		if st, err := os.Lstat(filepath.Join(root, p)); err == nil && st.Mode()&os.ModeSymlink != 0 {
			t.Errorf("/%s is a symlink; the link's target should have been copied", p)
		}
	}

	bad := filepath.Join(dir, "bad.hcl")
	writeFile(t, bad, head+`copy "/etc/copied" { source = "dangling.link" }
`)
	out, code := runBuilderCode(t, nil, "validate", bad)
	if code != 1 || !strings.Contains(out, "bad.hcl line 7") || !strings.Contains(out, "a symbolic link to "+filepath.Join(dir, "files/gone")) {
		t.Errorf("validate of a dangling link: exit %d, want 1 naming bad.hcl line 7 and the link's target\n%s", code, out)
	}
}
