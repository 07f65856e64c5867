package cache

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/recipe"
)

// historyRecipe takes its file's mode, owner and group, an environment
// value and a script's text from sensitive variables, the last through
// nonsensitive(): none of them may be written into the cache directory.
const historyRecipe = `
variable "mode" {
  default   = "0640"
  sensitive = true
}
variable "owner" {
  default   = "svc-owner-7f3e"
  sensitive = true
}
variable "token" {
  default   = "tok-9c2e-history"
  sensitive = true
}
image {
  distribution = "busybox"
  release      = "test"
  architecture = "amd64"
}
bootstrap "busybox" {
  binary = "busybox"
}
environment {
  API = "https://me:${var.token}@example.org"
}
file "/etc/secret" {
  content = "x"
  mode    = var.mode
  owner   = var.owner
  group   = var.owner
}
run "print" {
  script = "#!/bin/sh\necho ${nonsensitive(var.token)}\n"
}
`

// TestHistoryKeepsDigestsOnly: the history a build leaves in the cache
// directory, and the explanation of a miss made from it, hold digests of
// sensitive values, never their text.
func TestHistoryKeepsDigestsOnly(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "busybox"), []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "r.hcl")
	if err := os.WriteFile(path, []byte(historyRecipe), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func(vars ...string) (*recipe.Plan, History) {
		p, diags := recipe.NewLoader().Load(path, recipe.Options{HostArch: "amd64", Vars: vars})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		points, err := Points(p, "")
		if err != nil {
			t.Fatal(err)
		}
		return p, History{Recipe: path, Image: p.Image.Name, Points: points, Variables: VariableValues(p)}
	}
	c, err := Open(filepath.Join(dir, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	_, first := load()
	if err := c.RecordBuild(first); err != nil {
		t.Fatal(err)
	}
	secrets := []string{"0640", "svc-owner-7f3e", "tok-9c2e-history"}
	files := 0
	err = filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, s := range secrets {
			if strings.Contains(string(data), s) {
				t.Errorf("%s holds %q:\n%s", p, s, data)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no history file written")
	}

	last, ok := c.LastBuild(path, "")
	if !ok {
		t.Fatal("the history does not read back")
	}
	_, second := load("mode=0600", "owner=svc-owner-8a1b", "token=tok-1d4f-changed")
	var all []string
	for i := range second.Points {
		all = append(all, Explain(last, true, second, i)...)
	}
	reasons := strings.Join(all, "\n")
	for _, s := range append(secrets, "0600", "svc-owner-8a1b", "tok-1d4f-changed") {
		if strings.Contains(reasons, s) {
			t.Errorf("the explanations hold %q:\n%s", s, reasons)
		}
	}
	for _, want := range []string{"variable token: sha256:", `file "/etc/secret": ownership: sha256:`, `run "print": script: sha256:`, "environment API: sha256:"} {
		if !strings.Contains(reasons, want) {
			t.Errorf("the explanations lack %q:\n%s", want, reasons)
		}
	}
}
