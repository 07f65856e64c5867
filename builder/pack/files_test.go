package pack

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var metadataFiles = []FileEntry{
	// deliberately out of order: WriteFiles decides the order
	{Name: "templates/hostname.tpl", Data: []byte("{{ container.name }}\n"), ModTime: futureTime},
	{Name: "templates/", Mode: fs.ModeDir},
	{Name: "metadata.yaml", Data: []byte("architecture: x86_64\ncreation_date: 1\n"), ModTime: pastTime},
	{Name: "templates/hosts.tpl", Data: []byte("127.0.0.1 localhost\n"), Mode: 0o600},
}

func TestWriteFiles(t *testing.T) {
	epoch := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	stats, err := WriteFiles(&buf, metadataFiles, TarOptions{SourceDateEpoch: &epoch})
	if err != nil {
		t.Fatal(err)
	}
	hs := readHeaders(t, buf.Bytes())
	var names []string
	for _, h := range hs {
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.ModTime.After(epoch) {
			t.Errorf("%s: %+v", h.Name, h)
		}
	}
	want := []string{"metadata.yaml", "templates/", "templates/hostname.tpl", "templates/hosts.tpl"}
	if !slices.Equal(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}
	if stats.Entries != 4 || stats.Bytes != int64(len(metadataFiles[0].Data)+len(metadataFiles[2].Data)+len(metadataFiles[3].Data)) {
		t.Errorf("stats %+v", stats)
	}
	modes := map[string]int64{"metadata.yaml": 0o644, "templates/": 0o755, "templates/hosts.tpl": 0o600}
	for _, h := range hs {
		if m, ok := modes[h.Name]; ok && h.Mode != m {
			t.Errorf("%s: mode %#o, want %#o", h.Name, h.Mode, m)
		}
	}
	if hs[0].ModTime.Unix() != pastTime.Unix() || hs[2].ModTime.Unix() != epoch.Unix() || hs[1].ModTime.Unix() != epoch.Unix() {
		t.Errorf("mtimes %v %v %v: want kept, clamped, and the epoch for a zero time", hs[0].ModTime, hs[2].ModTime, hs[1].ModTime)
	}

	// GNU tar unpacks it to the same files.
	archive := writeFile(t, "lxd.tar", func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err })
	dst := extract(t, archive)
	got, err := os.ReadFile(filepath.Join(dst, "templates/hostname.tpl"))
	if err != nil || string(got) != string(metadataFiles[0].Data) {
		t.Errorf("extracted template = %q, %v", got, err)
	}
}

func TestWriteFilesErrors(t *testing.T) {
	for name, files := range map[string][]FileEntry{
		"parent missing": {{Name: "templates/x.tpl"}},
		"duplicate":      {{Name: "metadata.yaml"}, {Name: "metadata.yaml"}},
		"absolute":       {{Name: "/metadata.yaml"}},
		"dot-dot":        {{Name: "../metadata.yaml"}},
		"unclean":        {{Name: "templates//x"}},
		"dot":            {{Name: "./metadata.yaml"}},
		"empty":          {{Name: ""}},
		"dir with data":  {{Name: "templates/", Data: []byte("x")}},
	} {
		if _, err := WriteFiles(io.Discard, files, TarOptions{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A unified image is one archive: metadata.yaml, templates/, then
// rootfs/, and LXD finds both markers in it.
func TestUnifiedArchive(t *testing.T) {
	src := makeTree(t, t.TempDir(), treeOptions{bigSize: 1024})
	var buf bytes.Buffer
	tw, err := NewTarWriter(&buf, TarOptions{Prefix: "rootfs/"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteFiles(metadataFiles); err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteTree(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	hs := readHeaders(t, buf.Bytes())
	if tw.Stats().Entries != int64(len(hs)) {
		t.Errorf("Stats.Entries %d, archive has %d", tw.Stats().Entries, len(hs))
	}
	var names []string
	for _, h := range hs[:6] {
		names = append(names, h.Name)
	}
	want := []string{"metadata.yaml", "templates/", "templates/hostname.tpl", "templates/hosts.tpl", "rootfs/", "rootfs/a/"}
	if !slices.Equal(names, want) {
		t.Errorf("first entries %q, want %q", names, want)
	}
	for _, h := range hs[4:] {
		if !strings.HasPrefix(h.Name, "rootfs/") {
			t.Errorf("tree entry %s outside rootfs/", h.Name)
		}
	}
	if hs[0].Typeflag != tar.TypeReg {
		t.Error("metadata.yaml is not a regular file")
	}

	archive := writeFile(t, "image.tar", func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err })
	dst := extract(t, archive)
	compareTrees(t, snapshot(t, src), snapshot(t, filepath.Join(dst, "rootfs")), nil)
	if _, err := os.Stat(filepath.Join(dst, "metadata.yaml")); err != nil {
		t.Error(err)
	}
}
