package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestBinaryValidatesUnprivileged builds the real binary and runs
// validate on the shipped recipes as an unprivileged user: as nobody when
// the test runs as root (as in CI), as the current user otherwise.
func TestBinaryValidatesUnprivileged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	repoRoot(t)
	// Not t.TempDir: its parent directory is private to this user.
	dir, err := os.MkdirTemp("", "builder-unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "builder")
	build := exec.Command("go", "build", "-o", bin, "./cmd/builder")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	copyTree(t, "recipes", filepath.Join(dir, "recipes"))
	copyTree(t, "templates", filepath.Join(dir, "templates"))
	// The test's temporary directory is private; open it to others.
	if err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chmod(p, info.Mode().Perm()|0o555)
	}); err != nil {
		t.Fatal(err)
	}
	for p := filepath.Dir(dir); p != "/"; p = filepath.Dir(p) {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o001 == 0 {
			t.Fatalf("%s is not searchable by other users; set TMPDIR to a directory they can reach", p)
		}
	}
	for _, r := range []string{"debian", "ubuntu", "busybox"} {
		cmd := exec.Command(bin, "validate", filepath.Join("recipes", r+".hcl"))
		cmd.Dir = dir
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent"}
		if os.Geteuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "is valid") {
			t.Errorf("validate %s as uid %d: %v\n%s", r, map[bool]int{true: 65534, false: os.Geteuid()}[os.Geteuid() == 0], err, out)
		}
	}
}
