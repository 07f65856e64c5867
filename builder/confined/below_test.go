package confined

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// unified is a unified image's layout: metadata.yaml and templates/ at
// the top, the root filesystem below rootfs/.
func unified(rootfs ...entry) []entry {
	return append([]entry{
		file("metadata.yaml", "architecture: x86_64\n"),
		dir("templates/"),
		file("templates/hostname.tpl", "{{ container.name }}\n"),
		{hdr: dir("rootfs/").hdr},
	}, rootfs...)
}

// TestExtractTarBelow extracts a unified image's rootfs/ re-rooted: the
// metadata stays out, names, hard links and symlinks are relative to the
// new root, and the prefix directory's own mode becomes the root's.
func TestExtractTarBelow(t *testing.T) {
	root := t.TempDir()
	entries := unified(
		dir("./rootfs/etc/"),
		file("rootfs/etc/hostname", "base\n"),
		hardlink("rootfs/etc/hostname.bak", "./rootfs/etc/hostname"),
		symlink("rootfs/etc/up", "../etc"),
		file("rootfsx/not-below", "skipped"), // a sibling whose name starts alike
	)
	entries[3].hdr.Mode = 0o750
	if err := ExtractTarBelow(context.Background(), bytes.NewReader(makeTar(t, entries...)), "rootfs/", root, 0); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		got = append(got, rel)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{".", "etc", "etc/hostname", "etc/hostname.bak", "etc/up"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("extracted %q, want %q", got, want)
	}
	a, errA := os.Stat(filepath.Join(root, "etc/hostname"))
	b, errB := os.Stat(filepath.Join(root, "etc/hostname.bak"))
	if errA != nil || errB != nil || !os.SameFile(a, b) {
		t.Errorf("etc/hostname.bak is not a hard link of etc/hostname: %v, %v", errA, errB)
	}
	if m := describe(t, filepath.Join(root, "etc/hostname")); m.Content != "base\n" {
		t.Errorf("etc/hostname: %+v", m)
	}
	if m := describe(t, root); m.Perm != 0o750 {
		t.Errorf("the root's mode is %#o, want rootfs/'s 0750", m.Perm)
	}
	if m := describe(t, filepath.Join(root, "etc/up")); m.Type != unix.S_IFLNK || m.Target != "../etc" {
		t.Errorf("etc/up: %+v", m)
	}
}

// TestExtractTarBelowRefuses: names are checked before the prefix is
// stripped, and what the prefix holds is as confined as any archive.
func TestExtractTarBelowRefuses(t *testing.T) {
	tests := []struct {
		name    string
		entries func(f *escapeFixture) []entry
		entry   string // the name the error must quote
		why     string
	}{
		{"climbing out of the prefix", func(*escapeFixture) []entry {
			return unified(file("rootfs/../../outside/sentinel", "pwned"))
		}, "rootfs/../../outside/sentinel", `".." component`},
		{"climbing back into the prefix", func(*escapeFixture) []entry {
			return unified(file("rootfs/../rootfs/x", "sneaky"))
		}, "rootfs/../rootfs/x", `".." component`},
		{"absolute name", func(f *escapeFixture) []entry { return unified(file("/rootfs/x", "")) }, "/rootfs/x", "absolute"},
		{"hard link to the metadata", func(*escapeFixture) []entry {
			return unified(hardlink("rootfs/m", "metadata.yaml"))
		}, "rootfs/m", "outside rootfs/"},
		{"hard link climbing out", func(*escapeFixture) []entry {
			return unified(hardlink("rootfs/h", "rootfs/../../outside/sentinel"))
		}, "rootfs/h", `".." component`},
		{"hard link to the new root", func(*escapeFixture) []entry { return unified(hardlink("rootfs/h", "rootfs")) }, "rootfs/h", "root directory"},
		{"symlink climbing out of the new root", func(*escapeFixture) []entry {
			// Inside the whole archive, ../metadata.yaml would not climb.
			return unified(symlink("rootfs/s", "../metadata.yaml"))
		}, "rootfs/s", "climbs above the root"},
		{"write through an earlier symlink", func(f *escapeFixture) []entry {
			return unified(symlink("rootfs/a", f.out), file("rootfs/a/sentinel", "pwned"))
		}, "rootfs/a/sentinel", ""},
		{"the new root as a file", func(*escapeFixture) []entry {
			return []entry{file("rootfs", "not a directory")}
		}, "rootfs", "only be a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEscapeFixture(t)
			err := ExtractTarBelow(context.Background(), bytes.NewReader(makeTar(t, tt.entries(f)...)), "rootfs", f.root, 0)
			if err == nil || !strings.Contains(err.Error(), `extracting "`+tt.entry+`"`) || !strings.Contains(err.Error(), tt.why) {
				t.Errorf("ExtractTarBelow = %v, want an error naming %q (%s)", err, tt.entry, tt.why)
			}
			f.assertUntouched(t)
		})
	}
}

// TestExtractTarBelowPrefix: the prefix is a directory name inside the
// archive; one that is empty or climbs is a programming error, reported.
func TestExtractTarBelowPrefix(t *testing.T) {
	for _, prefix := range []string{"", ".", "/", "../rootfs"} {
		if err := ExtractTarBelow(context.Background(), bytes.NewReader(nil), prefix, t.TempDir(), 0); err == nil {
			t.Errorf("prefix %q accepted", prefix)
		}
	}
}

// TestExtractTarBelowSize: what is extracted counts toward the bound
// apart from what is skipped, so a metadata part beside a root that
// together pass it does not fail it.
func TestExtractTarBelowSize(t *testing.T) {
	big := strings.Repeat("x", 64<<10)
	part := strings.Repeat("x", 12<<10)
	entries := []entry{file("templates/big.tpl", part), dir("rootfs/"), file("rootfs/part", part)}
	if err := ExtractTarBelow(context.Background(), bytes.NewReader(makeTar(t, entries...)), "rootfs", t.TempDir(), 16<<10); err != nil {
		t.Errorf("the skipped metadata counted: %v", err)
	}
	entries = []entry{dir("rootfs/"), file("rootfs/big", big)}
	err := ExtractTarBelow(context.Background(), bytes.NewReader(makeTar(t, entries...)), "rootfs", t.TempDir(), 16<<10)
	if err == nil || !strings.Contains(err.Error(), `extracting "rootfs/big"`) {
		t.Errorf("ExtractTarBelow past the bound = %v", err)
	}
}

// TestExtractTarBelowSkippedBounded: what is skipped outside the prefix
// is read and thrown away, and bounded as well (by the same size, apart
// from what is extracted): a few kilobytes of xz can hold terabytes of
// zeros beside a small rootfs/.
func TestExtractTarBelowSkippedBounded(t *testing.T) {
	big := strings.Repeat("\x00", 64<<10)
	entries := []entry{file("templates/a.tpl", big), dir("rootfs/"), file("rootfs/small", "y")}
	err := ExtractTarBelow(context.Background(), bytes.NewReader(makeTar(t, entries...)), "rootfs", t.TempDir(), 16<<10)
	if err == nil || !strings.Contains(err.Error(), `"templates/a.tpl"`) || !strings.Contains(err.Error(), "tarball_size") {
		t.Errorf("64 KiB skipped past a 16 KiB bound: %v", err)
	}
}
