package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// runCLI runs builder in-process, as main does, and returns what it
// printed and its exit code.
func runCLI(t *testing.T, stdin string, environ []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	a := &app{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, environ: environ}
	code = run(context.Background(), a, args)
	return out.String(), errOut.String(), code
}

// repoRoot makes the test run from the repository root, where the
// shipped recipes are, so paths in output are the ones users see.
func repoRoot(t *testing.T) {
	t.Helper()
	t.Chdir(filepath.Join("..", ".."))
}

// testdataDir is cmd/builder/testdata, found before any test changes
// directory.
var testdataDir = func() string {
	dir, err := filepath.Abs("testdata")
	if err != nil {
		panic(err)
	}
	return dir
}()

// readTestdata returns the content of testdata/name.
func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdataDir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// golden compares got with testdata/name (which may be in a
// subdirectory, as "fmt/x.golden"), or writes it there with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(testdataDir, filepath.FromSlash(name))
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/builder -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test ./cmd/builder -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestValidateShippedRecipes(t *testing.T) {
	repoRoot(t)
	for _, r := range []string{"recipes/debian.hcl", "recipes/ubuntu.hcl", "recipes/busybox.hcl", "recipes/oci.hcl", "recipes/busybox-image.hcl"} {
		for _, vars := range [][]string{nil, {"--var", "architecture=arm64"}} {
			args := append([]string{"validate", r}, vars...)
			stdout, stderr, code := runCLI(t, "", nil, args...)
			if code != exitOK || !strings.Contains(stdout, r+" is valid") {
				t.Errorf("builder %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
			}
		}
	}
}

func TestValidateUnknownAttribute(t *testing.T) {
	repoRoot(t)
	dir := t.TempDir()
	copyTree(t, "templates", filepath.Join(dir, "templates"))
	copyTree(t, "recipes/files", filepath.Join(dir, "recipes", "files"))
	src, err := os.ReadFile("recipes/debian.hcl")
	if err != nil {
		t.Fatal(err)
	}
	// Insert an unknown attribute as the image block's second line.
	lines := strings.Split(string(src), "\n")
	line := 0
	for i, l := range lines {
		if l == "image {" {
			line = i + 2 // the inserted line's 1-based number
			lines = append(lines[:i+1], append([]string{`  colour = "red"`}, lines[i+1:]...)...)
			break
		}
	}
	path := filepath.Join(dir, "recipes", "bad.hcl")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLI(t, "", nil, "validate", path)
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	for _, want := range []string{
		"Error: Unsupported argument",
		"on " + path + " line " + itoa(line) + ", in image:",
		itoa(line) + `:   colour = "red"`,
		`An argument named "colour" is not expected here.`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	stdout, _, code := runCLI(t, "", nil, "validate", "--json", path)
	if code != exitFailure {
		t.Errorf("--json exit %d, want %d", code, exitFailure)
	}
	for _, want := range []string{`"valid": false`, `"error_count": 1`, `"line": ` + itoa(line), `"column": 3`, `"code": "  colour = \"red\""`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--json output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestValidateVariables(t *testing.T) {
	repoRoot(t)
	tests := []struct {
		name    string
		environ []string
		args    []string
		code    int
		want    string
	}{
		{"validation fails", nil, []string{"--var", "variant=bogus"}, exitFailure, `The variant must be "default" or "cloud".`},
		{"undeclared var", nil, []string{"--var", "nosuch=1"}, exitFailure, `--var sets "nosuch", but the recipe declares no variable "nosuch"`},
		{"malformed var", nil, []string{"--var", "variant"}, exitFailure, `--var "variant" must have the form NAME=VALUE`},
		{"environment value validated", []string{"BUILDER_VAR_variant=bogus"}, nil, exitFailure, `(from BUILDER_VAR_variant)`},
		{"command line wins over environment", []string{"BUILDER_VAR_variant=bogus"}, []string{"--var", "variant=cloud"}, exitOK, "debian-bookworm-amd64-cloud"},
		{"missing var file", nil, []string{"--var-file", "nonexistent.hcl"}, exitFailure, "nonexistent.hcl"},
		{"unknown flag", nil, []string{"--bogus"}, exitUsage, "unknown flag: --bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"validate", "recipes/debian.hcl"}, tt.args...)
			stdout, stderr, code := runCLI(t, "", tt.environ, args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstderr: %s", code, tt.code, stderr)
			}
			if !strings.Contains(stdout+stderr, tt.want) {
				t.Errorf("output lacks %q:\nstdout: %s\nstderr: %s", tt.want, stdout, stderr)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"validate"}, {"inspect", "a", "b"}, {"nosuchcommand"}, {"version", "extra"}} {
		_, stderr, code := runCLI(t, "", nil, args...)
		if code != exitUsage {
			t.Errorf("builder %s: exit %d, want %d\n%s", strings.Join(args, " "), code, exitUsage, stderr)
		}
		if !strings.Contains(stderr, "builder: ") {
			t.Errorf("builder %s: no error message:\n%s", strings.Join(args, " "), stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	stdout, _, code := runCLI(t, "", nil, "version")
	if code != 0 || !strings.HasPrefix(stdout, "builder ") || !strings.Contains(stdout, "go1.") {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
}

func TestCompletion(t *testing.T) {
	repoRoot(t)
	stdout, _, code := runCLI(t, "", nil, "completion", "bash")
	if code != 0 || !strings.Contains(stdout, "__start_builder") {
		t.Errorf("completion bash: exit %d, %d bytes", code, len(stdout))
	}
	stdout, _, _ = runCLI(t, "", nil, "__complete", "validate", "recipes/debian.hcl", "--var", "")
	for _, want := range []string{"release=", "architecture=", "variant=", "mirror="} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--var completion lacks %q:\n%s", want, stdout)
		}
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
