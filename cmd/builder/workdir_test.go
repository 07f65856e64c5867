package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/isolation"
)

// killInRunStep starts builder with args on the sleepy recipe and kills
// it with SIGKILL once its run step is in the chroot; it returns the
// work directory left in parent.
func killInRunStep(t *testing.T, parent string, args ...string) string {
	t.Helper()
	before, _ := filepath.Glob(filepath.Join(parent, ".builder-work-*"))
	cmd, out := startSleepyBuildCmd(t, parent, args...)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	after, _ := filepath.Glob(filepath.Join(parent, ".builder-work-*"))
	var left []string
	for _, w := range after {
		if !slices.Contains(before, w) {
			left = append(left, w)
		}
	}
	if len(left) != 1 {
		t.Fatalf("the killed build left work directories %v, want one\n%s", left, out.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(processesRootedIn(filepath.Join(left[0], "rootfs"))) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return left[0]
}

// startSleepyBuildCmd starts 'builder build' on the sleepy recipe with
// its work directory in parent and returns once the run step waits in
// the chroot.
func startSleepyBuildCmd(t *testing.T, parent string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	before, _ := filepath.Glob(filepath.Join(parent, ".builder-work-*", "rootfs"))
	cmd := exec.Command(builderBinary(t), append([]string{"build", "cmd/builder/testdata/rootfs/sleepy.hcl"}, args...)...)
	cmd.Dir = filepath.Join("..", "..")
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		roots, _ := filepath.Glob(filepath.Join(parent, ".builder-work-*", "rootfs"))
		for _, r := range roots {
			if !slices.Contains(before, r) && len(processesRootedIn(r)) > 0 {
				return cmd, out
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the run step never started:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStaleWorkDirs: the work directory of a build killed with kill -9
// is removed by the next build in the same directory and by 'builder
// cache prune'; a running build's, and one kept for inspection, are not.
func TestStaleWorkDirs(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	if testing.Short() {
		t.Skip("runs five builds")
	}
	parent := t.TempDir()
	cacheDir := filepath.Join(t.TempDir(), "cache")
	_, stderr, status := builderExec(t, nil, "build", "cmd/builder/testdata/rootfs/fails.hcl", "-o", filepath.Join(parent, "kept"), "--keep-on-error")
	if status != exitFailure {
		t.Fatalf("the failing build: exit %d\n%s", status, stderr)
	}
	kept, _ := filepath.Glob(filepath.Join(parent, ".builder-work-*", "rootfs", "bin", "busybox"))
	if len(kept) != 1 {
		t.Fatalf("kept trees: %v", kept)
	}
	keptDir := filepath.Dir(filepath.Dir(filepath.Dir(kept[0])))
	t.Cleanup(func() { _ = isolation.RemoveTree(keptDir) })

	live, _ := startSleepyBuildCmd(t, parent, "-o", filepath.Join(parent, "live"))
	t.Cleanup(func() {
		_ = live.Process.Signal(syscall.SIGINT)
		_ = live.Wait()
	})
	liveDirs, _ := filepath.Glob(filepath.Join(parent, ".builder-work-*"))
	stale := killInRunStep(t, parent, "-o", filepath.Join(parent, "killed"), "--cache-dir", cacheDir)

	stdout, stderr, status := builderExec(t, nil, "build", "recipes/busybox.hcl", "-o", filepath.Join(parent, "next"))
	if status != 0 {
		t.Fatalf("the next build: exit %d\n%s", status, stderr)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the next build left the killed build's work directory %s (%v)", stale, err)
	} else if !strings.Contains(stdout, "removed "+stale+", the work directory of a build that was killed") {
		t.Errorf("the next build did not say it removed %s:\n%s", stale, stdout)
	}
	for _, dir := range liveDirs {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("the next build removed %s, of a build running or kept: %v", dir, err)
		}
	}
	if _, err := os.Stat(filepath.Join(keptDir, "rootfs", "bin", "busybox")); err != nil {
		t.Errorf("the kept work directory: %v", err)
	}
	assertNothingMounted(t, parent)

	// prune finds a killed build's work directory wherever it was, by
	// the cache the build used.
	elsewhere := t.TempDir()
	stale = killInRunStep(t, elsewhere, "-o", filepath.Join(elsewhere, "out"), "--cache-dir", cacheDir)
	stdout, stderr, status = builderExec(t, nil, "cache", "prune", "--cache-dir", cacheDir, "--dry-run")
	if status != 0 || !strings.Contains(stdout, "would remove "+stale) {
		t.Errorf("prune --dry-run: exit %d\n%s%s", status, stdout, stderr)
	}
	if _, err := os.Stat(stale); err != nil {
		t.Errorf("prune --dry-run removed %s: %v", stale, err)
	}
	stdout, stderr, status = builderExec(t, nil, "cache", "prune", "--cache-dir", cacheDir)
	if status != 0 || !strings.Contains(stdout, "removed "+stale+", the work directory of a build that was killed") {
		t.Errorf("prune: exit %d\n%s%s", status, stdout, stderr)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("prune left the killed build's work directory %s (%v)", stale, err)
	}
	if left, _ := os.ReadDir(filepath.Join(cacheDir, "workdirs")); len(left) != 0 {
		t.Errorf("the cache still records %d work directories", len(left))
	}
}
