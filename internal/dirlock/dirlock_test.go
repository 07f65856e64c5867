package dirlock

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// flock belongs to an open file description: a second open in this
// process conflicts with the first as another process's would.
func TestLockOwnership(t *testing.T) {
	parent := t.TempDir()
	d, err := MkdirTemp(parent, ".work-")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(d.Path); err != nil || st.Mode().Perm() != 0o700 || filepath.Dir(d.Path) != parent {
		t.Fatalf("made %s: %v %v", d.Path, st.Mode(), err)
	}
	if other, held, err := TryLock(d.Path); !held || other != nil || err != nil {
		t.Errorf("TryLock of an owned directory: %v %v %v, want held", other, held, err)
	}
	if err := d.Unlock(); err != nil {
		t.Fatal(err)
	}
	other, held, err := TryLock(d.Path)
	if held || err != nil || other == nil {
		t.Fatalf("TryLock once the owner is gone: %v %v %v", other, held, err)
	}
	if _, held, _ := TryLock(d.Path); !held {
		t.Error("a taken lock is not held")
	}
	if err := other.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := d.Unlock(); err != nil {
		t.Errorf("a second Unlock: %v", err)
	}
}

func TestTryLockRefusesNonDirectories(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if d, held, err := TryLock(link); d != nil || held || err == nil {
		t.Errorf("TryLock followed a symlink: %v %v %v", d, held, err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if d, _, err := TryLock(file); d != nil || err == nil {
		t.Errorf("TryLock of a file: %v %v", d, err)
	}
	if _, _, err := TryLock(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("TryLock of a missing path: %v", err)
	}
}
