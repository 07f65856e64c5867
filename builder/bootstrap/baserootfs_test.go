package bootstrap

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/internal/testenv"
)

// writeTemp writes data into a new file of dir.
func writeTemp(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readTree returns every regular file below root with its content.
func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		got[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestExtractBaseRootfs unpacks each form a base image's root filesystem
// comes in: a split image's compressed tarball and squashfs, a unified
// image's rootfs/ (its metadata left out).
func TestExtractBaseRootfs(t *testing.T) {
	ctx := context.Background()
	files := t.TempDir()
	want := map[string]string{"etc/os-release": "ID=base\n", "bin/sh": "#!\n"}
	split := writeTemp(t, files, "rootfs.tar.gz", gzipTar(t, want))
	unified := writeTemp(t, files, "unified.tar.gz", gzipTar(t, map[string]string{
		"metadata.yaml": "architecture: x86_64\n", "templates/hostname.tpl": "x\n",
		"rootfs/etc/os-release": want["etc/os-release"], "rootfs/bin/sh": want["bin/sh"],
	}))
	for name, f := range map[string]string{"split tarball": split, "unified": unified} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			if err := extractBaseRootfs(ctx, f, f == unified, root, 0); err != nil {
				t.Fatal(err)
			}
			if got := readTree(t, root); !equalMaps(got, want) {
				t.Errorf("extracted %q, want %q", got, want)
			}
		})
	}
	t.Run("squashfs", func(t *testing.T) {
		mksquashfs := testenv.Command(t, "mksquashfs", "squashfs-tools")
		testenv.Command(t, "sqfs2tar", "squashfs-tools-ng")
		src := t.TempDir()
		for name, content := range want {
			if err := os.MkdirAll(filepath.Join(src, filepath.Dir(name)), 0o755); err != nil {
				t.Fatal(err)
			}
			writeTemp(t, src, name, []byte(content))
		}
		sq := filepath.Join(files, "rootfs.squashfs")
		if out, err := exec.Command(mksquashfs, src, sq, "-noappend", "-no-progress").CombinedOutput(); err != nil {
			t.Fatalf("mksquashfs: %v\n%s", err, out)
		}
		root := t.TempDir()
		if err := extractBaseRootfs(ctx, sq, false, root, 0); err != nil {
			t.Fatal(err)
		}
		if got := readTree(t, root); !equalMaps(got, want) {
			t.Errorf("extracted %q, want %q", got, want)
		}
		// Past the bound, sqfs2tar is stopped and the error says so.
		err := extractBaseRootfs(ctx, sq, false, t.TempDir(), 1024)
		if err == nil || !strings.Contains(err.Error(), "tarball_size") || !strings.Contains(err.Error(), sq) {
			t.Errorf("a squashfs past the bound: %v", err)
		}
	})
}

// TestExtractBaseRootfsRefuses: a base image is untrusted input; a
// hostile entry is refused naming the file and the entry, and an
// unknown format names the file.
func TestExtractBaseRootfsRefuses(t *testing.T) {
	ctx := context.Background()
	files := t.TempDir()
	for _, tt := range []struct {
		name    string
		path    string
		unified bool
		want    []string
	}{
		{"climbing rootfs tarball", writeTemp(t, files, "evil.tar.gz", gzipTar(t, map[string]string{"../evil": "x"})), false,
			[]string{"evil.tar.gz", `extracting "../evil"`}},
		{"climbing unified entry", writeTemp(t, files, "evil-unified.tar.gz", gzipTar(t, map[string]string{"rootfs/../../evil": "x"})), true,
			[]string{"evil-unified.tar.gz", `extracting "rootfs/../../evil"`}},
		// A virtual machine's unified tarball holds rootfs.img, not
		// rootfs/: an empty base, were it taken, would build on nothing.
		{"unified without rootfs/", writeTemp(t, files, "vm-unified.tar.gz", gzipTar(t, map[string]string{"metadata.yaml": "architecture: x86_64\n", "rootfs.img": "QFI\xfb"})), true,
			[]string{"vm-unified.tar.gz", "no rootfs/ entries"}},
		{"not an archive", writeTemp(t, files, "rootfs.img", []byte("neither squashfs nor tar")), false,
			[]string{"rootfs.img", "unknown archive format"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			root := filepath.Join(base, "root")
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			err := extractBaseRootfs(ctx, tt.path, tt.unified, root, 0)
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("extractBaseRootfs = %v, want it to say %q", err, w)
				}
			}
			if _, err := os.Lstat(filepath.Join(base, "evil")); err == nil {
				t.Error("an entry was written outside the root")
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
