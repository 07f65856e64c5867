package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const unformatted = `variable "release" {
default = "bookworm"
  description="Debian release"
}
image {
    distribution = "debian"
  release = var.release
}
`

const formatted = `variable "release" {
  default     = "bookworm"
  description = "Debian release"
}
image {
  distribution = "debian"
  release      = var.release
}
`

func TestFmtCheckShippedRecipes(t *testing.T) {
	repoRoot(t)
	stdout, stderr, code := runCLI(t, "", nil, "fmt", "--check", "recipes")
	if code != exitOK || stdout != "" {
		t.Errorf("fmt --check recipes: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestFmtCheckDiffAndWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.hcl")
	if err := os.WriteFile(path, []byte(unformatted), 0o640); err != nil {
		t.Fatal(err)
	}

	stdout, _, code := runCLI(t, "", nil, "fmt", "--check", path)
	if code != exitWouldChange || strings.TrimSpace(stdout) != path {
		t.Errorf("fmt --check: exit %d, stdout %q; want exit 3 and the file name", code, stdout)
	}
	if b, _ := os.ReadFile(path); string(b) != unformatted {
		t.Error("fmt --check changed the file")
	}

	stdout, _, code = runCLI(t, "", nil, "fmt", "--check", "--diff", path)
	if code != exitWouldChange {
		t.Errorf("fmt --check --diff: exit %d, want 3", code)
	}
	for _, want := range []string{"--- old/", "+++ new/", "-default = \"bookworm\"", "+  default     = \"bookworm\"", "+  release      = var.release"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("diff lacks %q:\n%s", want, stdout)
		}
	}

	// A directory argument formats the .hcl files in it.
	stdout, _, code = runCLI(t, "", nil, "fmt", dir)
	if code != exitOK || strings.TrimSpace(stdout) != path {
		t.Errorf("fmt: exit %d, stdout %q", code, stdout)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != formatted {
		t.Errorf("formatted file:\n%s\nwant:\n%s", b, formatted)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode after fmt = %v, want 0640 kept", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("fmt left %d files in the directory, want only the recipe", len(entries))
	}

	stdout, _, code = runCLI(t, "", nil, "fmt", "--check", path)
	if code != exitOK || stdout != "" {
		t.Errorf("fmt --check after fmt: exit %d, stdout %q", code, stdout)
	}
}

func TestFmtStdin(t *testing.T) {
	stdout, _, code := runCLI(t, unformatted, nil, "fmt", "-")
	if code != exitOK || stdout != formatted {
		t.Errorf("fmt -: exit %d, output:\n%s", code, stdout)
	}
	_, _, code = runCLI(t, unformatted, nil, "fmt", "--check", "-")
	if code != exitWouldChange {
		t.Errorf("fmt --check -: exit %d, want 3", code)
	}
}

func TestFmtSyntaxError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "broken.hcl")
	src := "image {\n  release = \"bookworm\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLI(t, "", nil, "fmt", path)
	if code != exitFailure {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr, "on "+path+" line 2") {
		t.Errorf("stderr lacks the position:\n%s", stderr)
	}
	if b, _ := os.ReadFile(path); string(b) != src {
		t.Error("fmt changed a file that does not parse")
	}
}
