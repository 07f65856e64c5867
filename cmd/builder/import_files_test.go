package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
)

// fakeOutput writes a split output directory (an image.json listing a
// metadata tarball and a squashfs) without building anything.
func fakeOutput(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "lxd.tar.xz"), "not really a tarball")
	writeFile(t, filepath.Join(dir, "rootfs.squashfs"), "hsqs, not really a squashfs")
	fp, files, err := image.HashFiles(dir,
		image.FileInfo{Name: "lxd.tar.xz", Role: image.RoleMetadata},
		image.FileInfo{Name: "rootfs.squashfs", Role: image.RoleRootfs})
	if err != nil {
		t.Fatal(err)
	}
	j := image.ImageJSON{Name: "fake", Fingerprint: fp, Type: image.TypeSplit, Architecture: "x86_64", Files: files}
	if err := image.WriteImageJSON(dir, j); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestImportIncompleteOutput: importing an output directory that lacks
// a file said "no LXD or Incus daemon answers" when none did, and
// started the import when one did. The missing or truncated file is named
// before any daemon is looked for.
func TestImportIncompleteOutput(t *testing.T) {
	noDaemon := []string{"LXD_SOCKET=/nonexistent/lxd/unix.socket", "INCUS_SOCKET=/nonexistent/incus/unix.socket"}
	missing := fakeOutput(t)
	if err := os.Remove(filepath.Join(missing, "rootfs.squashfs")); err != nil {
		t.Fatal(err)
	}
	truncated := fakeOutput(t)
	writeFile(t, filepath.Join(truncated, "lxd.tar.xz"), "short")

	check := func(t *testing.T, environ []string) {
		for _, tt := range []struct{ dir, want string }{
			{missing, filepath.Join(missing, "rootfs.squashfs") + " is missing"},
			{truncated, filepath.Join(truncated, "lxd.tar.xz") + " is 5 bytes"},
		} {
			_, stderr, code := runCLI(t, "", environ, "import", tt.dir)
			if code != 1 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, want 1 and %q:\n%s", code, tt.want, stderr)
			}
			for _, wrong := range []string{"no LXD or Incus daemon", "==> importing"} {
				if strings.Contains(stderr, wrong) {
					t.Errorf("%q before the files were checked:\n%s", wrong, stderr)
				}
			}
		}
	}
	t.Run("no daemon", func(t *testing.T) { check(t, noDaemon) })
	t.Run("daemon", func(t *testing.T) {
		requireLXD(t)
		check(t, nil)
	})
}
