package sbomtest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
)

// WriteImage makes an output directory for diff tests: a split image
// whose rootfs.tar holds files (path → contents; a path ending in "/"
// is a directory, one ending in "@" a symlink to the contents), whose lxd.tar.xz is a stand-in, and whose image.json
// lists pkgs. The fingerprint is the sha256 of the rootfs's bytes, so
// two directories with the same files are the same image.
func WriteImage(t testing.TB, dir string, pkgs []image.Package, files map[string]string) image.ImageJSON {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1767225600, 0)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range files {
			if !yield(n) {
				return
			}
		}
	}) {
		h := &tar.Header{Name: "./" + name, Mode: 0o644, ModTime: mtime, Typeflag: tar.TypeReg, Size: int64(len(files[name]))}
		content := files[name]
		switch {
		case strings.HasSuffix(name, "/"):
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		case strings.HasSuffix(name, "@"):
			h.Name, h.Typeflag, h.Mode, h.Size, h.Linkname = "./"+strings.TrimSuffix(name, "@"), tar.TypeSymlink, 0o777, 0, content
			content = ""
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte, role image.Role) image.FileInfo {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		return image.FileInfo{Name: name, Role: role, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}
	}
	meta := write("lxd.tar.xz", []byte("metadata"), image.RoleMetadata)
	rootfs := write("rootfs.tar", buf.Bytes(), image.RoleRootfs)
	j := image.ImageJSON{Name: "test", Fingerprint: rootfs.SHA256, Type: image.TypeSplit, Architecture: "x86_64",
		Created: mtime.UTC(), Files: []image.FileInfo{meta, rootfs}, Packages: pkgs}
	if err := image.WriteImageJSON(dir, j); err != nil {
		t.Fatal(err)
	}
	return j
}
