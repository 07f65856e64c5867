package image

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A scratch directory is made beside the staging directory, removed
// whole (subdirectories too) by its remove; one a killed build left is
// swept by the next build writing the same output, one a live build
// holds is not.
func TestScratchDir(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	s, err := StageOutput(out, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Discard()
	dir, remove, err := s.ScratchDir()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(dir) != parent || !strings.HasPrefix(filepath.Base(dir), ".out"+scratchMark) {
		t.Errorf("scratch directory %s, want .out%s* in %s", dir, scratchMark, parent)
	}
	if err := os.MkdirAll(filepath.Join(dir, "vmdisk-1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vmdisk-1", "disk.raw"), []byte("raw"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Held: the next build's check leaves it.
	if err := CheckOutput(out, nil, func(err error) { t.Error(err) }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "vmdisk-1", "disk.raw")); err != nil {
		t.Fatalf("a live build's scratch was swept: %v", err)
	}
	if err := remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("scratch directory still there: %v", err)
	}

	// A killed build's, with a subdirectory, goes.
	killed := filepath.Join(parent, ".out"+scratchMark+"1")
	if err := os.MkdirAll(filepath.Join(killed, "vmdisk-2"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(killed, "vmdisk-2", "disk.raw"), []byte("raw"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckOutput(out, nil, func(err error) { t.Error(err) }); err != nil {
		t.Fatal(err)
	}
	if names := list(t, parent); slices.Contains(names, filepath.Base(killed)) {
		t.Errorf("a killed build's scratch is still there: %v", names)
	}
}
