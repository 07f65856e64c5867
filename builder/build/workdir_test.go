package build

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/builder-images/builder/internal/testenv"
)

// TestRemoveStaleWorkDirs: only a work directory no build owns, not
// kept, root's and private as builder makes them is removed.
func TestRemoveStaleWorkDirs(t *testing.T) {
	testenv.Root(t)
	parent := t.TempDir()
	mk := func(name string, mode os.FileMode) string {
		dir := filepath.Join(parent, name)
		if err := os.MkdirAll(filepath.Join(dir, "rootfs", "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	stale := mk(WorkDirPrefix+"killed", 0o700)
	open := mk(WorkDirPrefix+"open", 0o755) // not one builder made
	other := mk("not-builders", 0o700)
	live, err := NewWorkDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := NewWorkDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if err := kept.Keep(); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, filepath.Join(parent, WorkDirPrefix+"link")); err != nil {
		t.Fatal(err)
	}

	if ok, err := RemoveStaleWorkDir(stale, true); !ok || err != nil {
		t.Errorf("dry run: %v %v", ok, err)
	}
	removed, err := RemoveStaleWorkDirs(parent)
	if err != nil || !slices.Equal(removed, []string{stale}) {
		t.Errorf("removed %v (%v), want only %s", removed, err, stale)
	}
	for _, dir := range []string{open, other, live.Path, kept.Path} {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("%s was removed: %v", dir, err)
		}
	}
	if err := live.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live.Path); !os.IsNotExist(err) {
		t.Errorf("Remove left %s: %v", live.Path, err)
	}
	if ok, err := RemoveStaleWorkDir("relative/"+WorkDirPrefix+"x", false); ok || err != nil {
		t.Errorf("a relative path: %v %v", ok, err)
	}
}
