package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fmt tests format testdata/fmt/messy.hcl; messy.hcl.golden is what
// fmt makes of it and messy.diff.golden what fmt --check --diff prints.
// go test ./cmd/builder -update rewrites the golden files.

func TestFmtCheckShippedRecipes(t *testing.T) {
	repoRoot(t)
	stdout, stderr, code := runCLI(t, "", nil, "fmt", "--check", "recipes")
	if code != exitOK || stdout != "" {
		t.Errorf("fmt --check recipes: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestFmtCheckDiffAndWrite(t *testing.T) {
	messy := readTestdata(t, "fmt/messy.hcl")
	dir := t.TempDir()
	path := filepath.Join(dir, "messy.hcl")
	if err := os.WriteFile(path, []byte(messy), 0o640); err != nil {
		t.Fatal(err)
	}

	stdout, _, code := runCLI(t, "", nil, "fmt", "--check", path)
	if code != exitWouldChange || strings.TrimSpace(stdout) != path {
		t.Errorf("fmt --check: exit %d, stdout %q; want exit 3 and the file name", code, stdout)
	}
	if b, _ := os.ReadFile(path); string(b) != messy {
		t.Error("fmt --check changed the file")
	}

	// From the file's directory, so the diff's file names are stable.
	t.Run("diff", func(t *testing.T) {
		t.Chdir(dir)
		stdout, _, code := runCLI(t, "", nil, "fmt", "--check", "--diff", "messy.hcl")
		if code != exitWouldChange {
			t.Errorf("fmt --check --diff: exit %d, want 3", code)
		}
		for _, want := range []string{"messy.hcl\n--- old/messy.hcl\n+++ new/messy.hcl\n"} {
			if !strings.HasPrefix(stdout, want) {
				t.Errorf("diff does not start with %q:\n%s", want, stdout)
			}
		}
		golden(t, "fmt/messy.diff.golden", stdout)
	})
	if b, _ := os.ReadFile(path); string(b) != messy {
		t.Error("fmt --check --diff changed the file")
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
	golden(t, "fmt/messy.hcl.golden", string(b))
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode after fmt = %v, want 0640 kept", st.Mode().Perm())
	}
	assertOnlyEntries(t, dir, "messy.hcl")

	stdout, _, code = runCLI(t, "", nil, "fmt", "--check", path)
	if code != exitOK || stdout != "" {
		t.Errorf("fmt --check after fmt: exit %d, stdout %q", code, stdout)
	}
}

func TestFmtStdin(t *testing.T) {
	messy := readTestdata(t, "fmt/messy.hcl")
	stdout, _, code := runCLI(t, messy, nil, "fmt", "-")
	if code != exitOK {
		t.Errorf("fmt -: exit %d", code)
	}
	golden(t, "fmt/messy.hcl.golden", stdout)
	_, _, code = runCLI(t, messy, nil, "fmt", "--check", "-")
	if code != exitWouldChange {
		t.Errorf("fmt --check -: exit %d, want 3", code)
	}
	_, _, code = runCLI(t, stdout, nil, "fmt", "--check", "-")
	if code != exitOK {
		t.Errorf("fmt --check - on formatted input: exit %d, want 0", code)
	}
}

// A recipe reached through a symbolic link is formatted where it lives;
// the link stays a link.
func TestFmtSymlink(t *testing.T) {
	messy := readTestdata(t, "fmt/messy.hcl")
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared")
	recipes := filepath.Join(dir, "recipes")
	for _, d := range []string{shared, recipes} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(shared, "base.hcl")
	if err := os.WriteFile(target, []byte(messy), 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(recipes, "base.hcl")
	const linkText = "../shared/base.hcl"
	if err := os.Symlink(linkText, link); err != nil {
		t.Skipf("cannot make symbolic links here: %v", err)
	}

	stdout, stderr, code := runCLI(t, "", nil, "fmt", link)
	if code != exitOK || strings.TrimSpace(stdout) != link {
		t.Fatalf("fmt %s: exit %d, stdout %q, stderr %q", link, code, stdout, stderr)
	}
	st, err := os.Lstat(link)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("%s is no longer a symbolic link after fmt (mode %v)", link, st.Mode())
	} else if got, _ := os.Readlink(link); got != linkText {
		t.Errorf("link points to %q after fmt, want %q", got, linkText)
	}
	b, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "fmt/messy.hcl.golden", string(b))
	if st, _ := os.Stat(target); st.Mode().Perm() != 0o640 {
		t.Errorf("target mode after fmt = %v, want 0640 kept", st.Mode().Perm())
	}
	assertOnlyEntries(t, shared, "base.hcl")
	assertOnlyEntries(t, recipes, "base.hcl")
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

// assertOnlyEntries fails unless dir holds exactly names: fmt must leave
// no temporary files behind.
func assertOnlyEntries(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %q after fmt, want only %q", dir, got, names)
	}
}
