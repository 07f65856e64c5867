package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/treediff"
)

// repro runs `builder repro ARGS` from the repository root and returns
// its stdout, stderr and exit code.
func repro(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(builderBinary(t), append([]string{"repro"}, args...)...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// The README's claim: recipes/busybox.hcl builds the same image twice.
func TestReproBusybox(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	dir := filepath.Join(t.TempDir(), "repro")
	// A cache the user set up: the builds neither read nor fill it.
	cacheDir := t.TempDir()
	stdout, stderr, code := repro(t, []string{"BUILDER_CACHE_DIR=" + cacheDir}, "recipes/busybox.hcl", "--output", dir)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"==> repro: build 1 of 2 into " + dir + "/build-1 (threads and GOMAXPROCS 1, ",
		"==> repro: build 2 of 2 into " + dir + "/build-2 (threads and GOMAXPROCS ",
		", work directory " + dir + "/work-2/deeper, ",
		"output (unnamed): reproducible, fingerprint ",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("without --keep, %s is left (%v)", dir, err)
	}
	if entries, err := os.ReadDir(cacheDir); err != nil || len(entries) > 0 {
		t.Errorf("the builds used the cache: %v, %v", entries, err)
	}
}

// A run step that writes the time: repro fails and names the file, in
// a squashfs rootfs and in a unified tarball, and nothing else.
func TestReproBuildTime(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	const recipe = "cmd/builder/testdata/repro/build-time.hcl"
	dir := filepath.Join(t.TempDir(), "repro")
	stdout, stderr, code := repro(t, nil, recipe, "--output", dir, "--quiet")
	if code != exitFailure {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailure, stdout, stderr)
	}
	for _, want := range []string{
		"output split: NOT reproducible\n",
		"  rootfs.squashfs (rootfs) differs: sha256 ",
		"\n    changed /etc/build-time: content\n        content 11 bytes, sha256 ",
		"output unified: NOT reproducible\n",
		"  build-time.tar.zst (unified) differs: sha256 ",
		"\n    changed /rootfs/etc/build-time: content\n",
		// The SBOM lists the image files' sha256, so it differs too.
		"  sbom.spdx.json (sbom) differs: sha256 ",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	_, report, _ := strings.Cut(stdout, "==> repro: comparing")
	if strings.Contains(report, "lxd.tar.gz") || strings.Contains(report, "steady") {
		t.Errorf("the report names what did not change:\n%s", report)
	}
	if want := "builder: " + recipe + " is not reproducible (--keep keeps both builds)\n"; !strings.HasSuffix(stderr, want) {
		t.Errorf("stderr ends %q, want %q", stderr, want)
	}

	// --json --keep: the same report as data, and both builds kept.
	kept := filepath.Join(t.TempDir(), "kept")
	stdout, stderr, code = repro(t, nil, recipe, "--output", kept, "--json", "--keep", "--only", "split", "--source-date-epoch", "1700000000")
	if code != exitFailure {
		t.Fatalf("--json: exit %d\nstderr:\n%s", code, stderr)
	}
	var res reproResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if res.Reproducible || !res.Kept || res.SourceDateEpoch != 1700000000 || len(res.Outputs) != 1 || res.Outputs[0].Name != "split" {
		t.Fatalf("--json result %+v", res)
	}
	if d := res.Outputs[0].Report.SBOM; d == nil || d.SHA256A == d.SHA256B || d.FirstDifference == "" {
		t.Errorf("--json sbom %+v", d)
	}
	files := res.Outputs[0].Report.Files
	if len(files) != 2 || !files[0].Same() || files[1].Tree == nil {
		t.Fatalf("files %+v", files)
	}
	var paths []string
	for _, e := range files[1].Tree.Entries {
		paths = append(paths, e.Path+" "+e.Kind+" "+strings.Join(e.What, ","))
	}
	if want := []string{"/etc/build-time changed content"}; !slices.Equal(paths, want) {
		t.Errorf("differences %v, want %v", paths, want)
	}
	for _, b := range []string{"build-1", "build-2"} {
		if _, err := os.Stat(filepath.Join(kept, b, "split", "image.json")); err != nil {
			t.Errorf("--keep: %v", err)
		}
	}
	// What was kept is an image each: treediff reads them again.
	r, err := treediff.CompareImages(t.Context(), filepath.Join(kept, "build-1", "split"), filepath.Join(kept, "build-2", "split"))
	if err != nil || r.Same() {
		t.Errorf("the kept builds: %+v, %v", r, err)
	}
}

func TestReproRefusesNonEmptyOutput(t *testing.T) {
	repoRoot(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mine"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLI(t, "", nil, "repro", "recipes/busybox.hcl", "--output", dir)
	if code != exitUsage || !strings.Contains(stderr, dir+" is not empty") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "mine")); err != nil {
		t.Errorf("repro touched what it did not make: %v", err)
	}
	_, stderr, code = runCLI(t, "", nil, "repro", "recipes/busybox.hcl", "--max-paths", "-1")
	if code != exitUsage || !strings.Contains(stderr, "--max-paths") {
		t.Errorf("--max-paths -1: exit %d, stderr %q", code, stderr)
	}
}

// A build that fails stops repro (exit 1), which names the build and
// leaves nothing behind.
func TestReproFailingBuild(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	dir := filepath.Join(t.TempDir(), "repro")
	stdout, stderr, code := repro(t, nil, "cmd/builder/testdata/rootfs/fails.hcl", "--output", dir, "--quiet")
	if code != exitFailure || !strings.Contains(stderr, "builder: build 1 of 2: builder build failed (exit 1); its messages are above\n") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Contains(stdout, "build 2 of 2") {
		t.Errorf("the second build ran after the first failed:\n%s", stdout)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s is left (%v)", dir, err)
	}
	// --json prints nothing then (the README says so): no comparison.
	stdout, stderr, code = repro(t, nil, "cmd/builder/testdata/rootfs/fails.hcl", "--output", dir, "--json")
	if code != exitFailure || stdout != "" || !strings.Contains(stderr, "builder: build 1 of 2: ") {
		t.Errorf("--json: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}
