package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/sbom"
	"github.com/builder-images/builder/internal/sbomtest"
)

// TestDiffCommand: `builder diff` exits as diff(1) does (0 same, 1
// differ, 2 trouble), prints the package changes and the paths beyond
// them, and --json has the same.
func TestDiffCommand(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	sbomtest.WriteImage(t, a, []image.Package{{Name: "foo", Version: "1.0", Architecture: "amd64"}},
		map[string]string{"usr/bin/foo": "1.0", "etc/motd": "hello", "var/lib/dpkg/info/foo.list": "/usr/bin/foo\n"})
	sbomtest.WriteImage(t, b, []image.Package{{Name: "foo", Version: "1.0~bpo1", Architecture: "amd64"}},
		map[string]string{"usr/bin/foo": "0.9", "etc/motd": "bye", "var/lib/dpkg/info/foo.list": "/usr/bin/foo\n"})

	stdout, stderr, status := builderExec(t, nil, "diff", a, b)
	if status != 1 || stderr != "" {
		t.Errorf("diff: exit %d\n%s", status, stderr)
	}
	for _, want := range []string{"packages: 0 added, 0 removed, 0 upgraded, 1 downgraded\n", "  downgraded foo (amd64) 1.0 → 1.0~bpo1\n",
		"rootfs: 2 paths differ, 1 accounted for by the package changes; beyond them:\nchanged /etc/motd: content\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("diff printed no %q:\n%s", want, stdout)
		}
	}

	stdout, _, status = builderExec(t, nil, "diff", a, b, "--json")
	var d sbom.ImageDiff
	if err := json.Unmarshal([]byte(stdout), &d); err != nil || status != 1 {
		t.Fatalf("diff --json: exit %d, %v\n%s", status, err, stdout)
	}
	if len(d.Packages) != 1 || d.Packages[0].Kind != sbom.PackageDowngraded || d.Rootfs == nil || len(d.Rootfs.Beyond) != 1 || d.Rootfs.Beyond[0].Path != "/etc/motd" {
		t.Errorf("diff --json: %+v", d)
	}

	if stdout, _, status := builderExec(t, nil, "diff", a, a); status != 0 || !strings.HasPrefix(stdout, "same image: ") {
		t.Errorf("an image against itself: exit %d\n%s", status, stdout)
	}
	if _, stderr, status := builderExec(t, nil, "diff", a, filepath.Join(dir, "missing")); status != 2 || !strings.Contains(stderr, "missing") {
		t.Errorf("a missing directory: exit %d\n%s", status, stderr)
	}
	if _, _, status := builderExec(t, nil, "diff", a); status != 2 {
		t.Errorf("one argument: exit %d", status)
	}
	// As builder repro: a negative --max-paths is a usage error, not "all".
	if stdout, stderr, status := builderExec(t, nil, "diff", a, b, "--max-paths", "-1"); status != 2 || stdout != "" || !strings.Contains(stderr, "--max-paths") {
		t.Errorf("--max-paths -1: exit %d\n%s%s", status, stdout, stderr)
	}
}

// TestDiffCommandWriteFails: a comparison diff cannot print is trouble
// (2), not "the images differ" (1) nor "the same" (0).
func TestDiffCommandWriteFails(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	sbomtest.WriteImage(t, a, []image.Package{{Name: "foo", Version: "1.0", Architecture: "amd64"}}, map[string]string{"etc/motd": "hello"})
	sbomtest.WriteImage(t, b, []image.Package{{Name: "foo", Version: "1.1", Architecture: "amd64"}}, map[string]string{"etc/motd": "bye"})
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	for _, args := range [][]string{{"diff", a, b}, {"diff", a, a}, {"diff", "--json", a, b}} {
		cmd := exec.Command(builderBinary(t), args...)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = full, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), "printing the comparison") {
			t.Errorf("builder %s > /dev/full: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
	}
}
