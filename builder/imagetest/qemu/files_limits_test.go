package qemu

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
)

type tarEntry struct{ name, content string }

// writeTarballInOrder writes an uncompressed tarball of entries in the
// order given: a hostile image chooses its order.
func writeTarballInOrder(t *testing.T, path string, entries []tarEntry) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func junkTemplates(n int) []tarEntry {
	var es []tarEntry
	for i := range n {
		es = append(es, tarEntry{fmt.Sprintf("templates/junk%d.tpl", i), strings.Repeat("j", maxTemplate)})
	}
	return es
}

// TestOnlyReferencedTemplatesKept: templates metadata.yaml does not name
// are not kept, whether they come after it or before.
func TestOnlyReferencedTemplatesKept(t *testing.T) {
	j := image.ImageJSON{Type: image.TypeVM, Files: []image.FileInfo{
		{Name: "meta.tar", Role: image.RoleMetadata}, {Name: "disk.qcow2", Role: image.RoleDisk},
	}}
	var refs []tarEntry
	for name, content := range testTemplates {
		refs = append(refs, tarEntry{name, content})
	}
	for _, order := range []string{"metadata first", "metadata last"} {
		dir := t.TempDir()
		var es []tarEntry
		if order == "metadata first" {
			es = append(append(append(es, tarEntry{"metadata.yaml", testMetadata}), junkTemplates(40)...), refs...)
		} else {
			es = append(append(append(es, junkTemplates(3)...), refs...), tarEntry{"metadata.yaml", testMetadata})
		}
		writeTarballInOrder(t, filepath.Join(dir, "meta.tar"), es)
		f, err := readImage(context.Background(), dir, j, t.TempDir())
		if err != nil {
			t.Fatalf("%s: %v", order, err)
		}
		if len(f.templates) != len(testTemplates) {
			t.Errorf("%s: kept %d templates, want the %d metadata.yaml names", order, len(f.templates), len(testTemplates))
		}
	}
}

// TestTemplatesBeforeMetadataBounded: templates that come before
// metadata.yaml are held until it comes, up to maxTemplates in all.
func TestTemplatesBeforeMetadataBounded(t *testing.T) {
	dir := t.TempDir()
	es := append(junkTemplates(maxTemplates/maxTemplate+1), tarEntry{"metadata.yaml", testMetadata})
	writeTarballInOrder(t, filepath.Join(dir, "meta.tar"), es)
	j := image.ImageJSON{Type: image.TypeVM, Files: []image.FileInfo{
		{Name: "meta.tar", Role: image.RoleMetadata}, {Name: "disk.qcow2", Role: image.RoleDisk},
	}}
	_, err := readImage(context.Background(), dir, j, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "more than 16 MiB") {
		t.Errorf("templates beyond the limit: %v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestDiskExtractionStopsOnCancel: copying a disk out of a unified image
// ends when ctx does, however much is left.
func TestDiskExtractionStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := ctxReader{ctx, &cancelAfter{r: zeros{}, left: 8 << 20, cancel: cancel}}
	err := copyTo(filepath.Join(t.TempDir(), "disk"), r)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("copy after cancel: %v", err)
	}
}

// cancelAfter calls cancel once left bytes were read: Ctrl-C midway.
type cancelAfter struct {
	r      zeros
	left   int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, _ := c.r.Read(p)
	c.left -= n
	if c.left <= 0 {
		c.cancel()
	}
	return n, nil
}
