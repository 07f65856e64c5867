package packages

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/internal/testenv"
)

// TestAptPreferences: one stanza per pin at priority 1001 (which
// downgrades too); a pin that is not name=version, or would add a line,
// is refused.
func TestAptPreferences(t *testing.T) {
	got, err := AptPreferences([]string{"less=590-2.1~deb12u2", "base-files=12.4+deb12u9"})
	if err != nil {
		t.Fatal(err)
	}
	want := "\nPackage: less\nPin: version 590-2.1~deb12u2\nPin-Priority: 1001\n\nPackage: base-files\nPin: version 12.4+deb12u9\nPin-Priority: 1001\n"
	if !strings.HasSuffix(got, want) || !strings.HasPrefix(got, "# ") {
		t.Errorf("preferences:\n%s", got)
	}
	for _, bad := range []string{"less", "less=", "=1", "less=1\nPackage: x", "less=1 2"} {
		if _, err := AptPreferences([]string{bad}); err == nil {
			t.Errorf("pin %q accepted", bad)
		}
	}
}

// TestPinsDuringBlock: the pins are in the image while the block's
// commands run, and gone after, when they succeed and when they fail;
// Fields, which the cache key hashes, do not carry them.
func TestPinsDuringBlock(t *testing.T) {
	testenv.Root(t)
	dir := t.TempDir()
	seen := ""
	run := func() error {
		data, err := os.ReadFile(filepath.Join(dir, PinsPath))
		seen = string(data)
		return err
	}
	if err := withPins(dir, []string{"less=1"}, run); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(seen, "Package: less\nPin: version 1\n") {
		t.Errorf("during the block: %q", seen)
	}
	if _, err := os.Stat(filepath.Join(dir, PinsPath)); !os.IsNotExist(err) {
		t.Errorf("the pins stayed: %v", err)
	}
	failed := withPins(dir, []string{"less=1"}, func() error { return context.Canceled })
	if failed != context.Canceled {
		t.Errorf("the block's error: %v", failed)
	}
	if _, err := os.Stat(filepath.Join(dir, PinsPath)); !os.IsNotExist(err) {
		t.Errorf("the pins stayed after a failure: %v", err)
	}
	// A file of the image's own at that name is not replaced, nor lost.
	if err := os.WriteFile(filepath.Join(dir, PinsPath), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ran := false
	if err := withPins(dir, []string{"less=1"}, func() error { ran = true; return nil }); err == nil || ran || !strings.Contains(err.Error(), "of its own") {
		t.Errorf("pins over the image's own file: ran %v, %v", ran, err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, PinsPath)); string(data) != "mine\n" {
		t.Errorf("the image's own file became %q", data)
	}
	plain, pinned := (&Config{Manager: "apt", Install: []string{"less"}}).Fields(), (&Config{Manager: "apt", Install: []string{"less"}, Pins: []string{"less=1"}}).Fields()
	if len(plain) != len(pinned) {
		t.Errorf("pins change the block's fields: %v / %v", plain, pinned)
	}
}
