package lock

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/recipe"
)

// TestInputs: what README's "Inputs" says a lock records: a tarball
// downloaded over https by the sha256 the recipe pins; the tool's
// default keyring when the recipe names none (debootstrap's, a host
// path); a repository's key_file and a file step's source, relative to
// the recipe's directory; and a changed one named by CheckInputs.
func TestInputs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	load := func(src string) *recipe.Plan {
		t.Helper()
		write("r.hcl", src)
		plan, diags := recipe.NewLoader().Load(filepath.Join(dir, "r.hcl"), recipe.Options{HostArch: "amd64"})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return plan
	}
	const img = "image {\n  name = \"x\"\n  distribution = \"debian\"\n  release = \"bookworm\"\n  architecture = \"amd64\"\n}\n"
	sum := strings.Repeat("ab", 32)
	plan := load(img + "bootstrap \"tarball\" {\n  source = \"https://dl.example/rootfs.tar.gz\"\n  sha256 = \"" + sum + "\"\n}\n")
	inputs, err := Inputs(plan)
	if err != nil {
		t.Fatal(err)
	}
	want := Input{Path: "https://dl.example/rootfs.tar.gz", Step: `bootstrap "tarball"`, Digest: "sha256:" + sum}
	if !slices.Contains(inputs, want) {
		t.Errorf("tarball inputs %+v, want %+v", inputs, want)
	}

	write("key.gpg", "a key")
	write("x.conf", "x")
	plan = load(img + "bootstrap \"debootstrap\" {\n}\n" +
		"repository \"own\" {\n  url = \"https://repo.example/debian\"\n  key_file = \"key.gpg\"\n}\n" +
		"file \"/etc/x.conf\" {\n  source = \"x.conf\"\n}\n")
	inputs, err = Inputs(plan)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, in := range inputs {
		if !strings.HasPrefix(in.Digest, "sha256:") {
			t.Errorf("input %s has digest %q", in.Path, in.Digest)
		}
		paths = append(paths, in.Step+" "+in.Path)
	}
	for _, p := range []string{`repository "own" key.gpg`, `file "/etc/x.conf" x.conf`} {
		if !slices.Contains(paths, p) {
			t.Errorf("inputs %q lack %q", paths, p)
		}
	}
	if k := bootstrap.DefaultArchiveKeyring(plan.Bootstrap(), "debian", ""); k != "" {
		if _, err := os.Stat(k); err == nil && !slices.Contains(paths, `bootstrap "debootstrap" `+k) {
			t.Errorf("inputs %q lack debootstrap's default keyring %s", paths, k)
		}
	}
	write("key.gpg", "another key")
	changed, err := Inputs(plan)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckInputs(inputs, changed); err == nil || !strings.Contains(err.Error(), `input key.gpg (repository "own") has digest`) {
		t.Errorf("a changed key_file: %v", err)
	}
}
