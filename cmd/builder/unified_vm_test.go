package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/builder-images/builder/internal/testenv"
)

// TestBuildUnifiedVM: a vm output with unified = true (from a variable
// of the test recipe) is one tarball holding metadata.yaml and the qcow2
// disk as rootfs.img, whose sha256 is the fingerprint; LXD and Incus
// take it, through builder import, as a virtual machine's image under
// image.json's fingerprint.
func TestBuildUnifiedVM(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	requireVMDisk(t)
	out := filepath.Join(t.TempDir(), "out")
	_, stderr, status := builderExec(t, []string{"SOURCE_DATE_EPOCH=1700000000"},
		"build", vmOutputsRecipe, "-o", out, "--only", "vm", "--var", "unified=true", "--cache-dir", "")
	if status != 0 {
		t.Fatalf("exit %d\n%s", status, stderr)
	}
	dir := filepath.Join(out, "vm")
	j := readImageJSON(t, dir)
	if j.Type != "virtual-machine" || len(j.Files) != 1 || j.Files[0].Role != "unified" || j.Files[0].SHA256 != j.Fingerprint ||
		!strings.HasSuffix(j.Files[0].Name, ".tar.gz") {
		t.Fatalf("image.json: a %s image of %+v, fingerprint %s; want one unified .tar.gz whose sha256 is the fingerprint", j.Type, j.Files, j.Fingerprint)
	}
	if _, err := os.Stat(filepath.Join(dir, "disk.qcow2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a unified VM image left disk.qcow2 beside its tarball: %v", err)
	}
	names, disk := unifiedEntries(t, filepath.Join(dir, j.Files[0].Name))
	if len(names) == 0 || names[0] != "metadata.yaml" || !slices.Contains(names, "rootfs.img") {
		t.Errorf("the tarball holds %v; want metadata.yaml first and rootfs.img", names)
	}
	if !bytes.HasPrefix(disk, []byte("QFI\xfb")) {
		t.Errorf("rootfs.img starts %q, not a qcow2 header", disk)
	}

	for _, d := range testenv.Daemons(t) {
		t.Run(d.Name, func(t *testing.T) {
			alias := "builder-unified-vm-" + uniqueSuffix()
			res := importJSON(t, append([]string{dir, "--alias", alias}, d.Args()...)...)
			deleteImageLaterOn(t, d, j.Fingerprint)
			if res.Fingerprint != j.Fingerprint {
				t.Fatalf("import: %+v; image.json says %s", res, j.Fingerprint)
			}
			if got := strings.TrimSpace(cli(t, d, "image", "list", j.Fingerprint, "--format", "csv", "--columns", "t")); got != "VIRTUAL-MACHINE" {
				t.Errorf("the unified VM image is a %q image in %s", got, d.Name)
			}
		})
	}
}

// unifiedEntries lists a gzip tarball's entries and returns the first
// bytes of its rootfs.img.
func unifiedEntries(t *testing.T, path string) (names []string, disk []byte) {
	t.Helper()
	eachGzipTarEntry(t, path, func(h *tar.Header, r io.Reader) {
		names = append(names, h.Name)
		if h.Name == "rootfs.img" {
			disk = make([]byte, 4)
			if _, err := io.ReadFull(r, disk); err != nil {
				t.Fatal(err)
			}
		}
	})
	return names, disk
}

// eachGzipTarEntry calls fn on each entry of the gzip tarball at path,
// with a reader of its contents.
func eachGzipTarEntry(t *testing.T, path string, fn func(*tar.Header, io.Reader)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		fn(h, tr)
	}
}
