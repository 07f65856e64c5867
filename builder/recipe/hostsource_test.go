package recipe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/steps"
)

// TestSourceSymlinks: a file or copy source that is a symlink is
// followed, at validation as at build time (confined.CopyIn), so a link
// to a file or a directory is valid and the plan keeps the path the
// recipe wrote; a link that leads nowhere is refused at the source, with
// where it leads.
func TestSourceSymlinks(t *testing.T) {
	dir := t.TempDir()
	for _, l := range []struct{ target, link string }{
		{"motd", "motd.link"}, {"overlay", "overlay.link"}, {"gone", "dangling.link"},
	} {
		if err := os.Symlink(l.target, filepath.Join(dir, l.link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "motd"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "overlay"), 0o755); err != nil {
		t.Fatal(err)
	}
	head := "image {\n  distribution = \"d\"\n  release = \"r\"\n}\nbootstrap \"busybox\" {}\n"
	write := func(body string) string {
		path := filepath.Join(dir, "r.hcl")
		if err := os.WriteFile(path, []byte(head+body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}

	plan := mustLoad(t, write(`file "/etc/motd" { source = "motd.link" }
copy "/usr/local/motd" { source = "motd.link" }
copy "/opt" { source = "overlay.link" }
`), Options{})
	for _, s := range plan.Steps[1:] {
		var src string
		switch a := s.Action.(type) {
		case *steps.File:
			src = a.Source
		case *steps.Copy:
			src = a.Source
		}
		if !strings.HasSuffix(src, ".link") {
			t.Errorf("%s %q: source %q, want the link the recipe names", s.Kind, s.Name, src)
		}
	}

	for _, block := range []string{`file "/etc/motd" { source = "dangling.link" }`, `copy "/opt" { source = "dangling.link" }`} {
		path := write(block + "\n")
		_, diags := NewLoader().Load(path, Options{HostArch: "amd64"})
		if len(diags) != 1 {
			t.Fatalf("%s: %d diagnostics, want 1: %v", block, len(diags), diags)
		}
		d := diags[0]
		if d.Summary != "Missing source" || d.Subject == nil || d.Subject.Start.Line != 6 ||
			!strings.Contains(d.Detail, "a symbolic link to "+filepath.Join(dir, "gone")) {
			t.Errorf("%s: %s: %s: %s, want Missing source at line 6 naming the link's target", block, d.Subject, d.Summary, d.Detail)
		}
	}
}
