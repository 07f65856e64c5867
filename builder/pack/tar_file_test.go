package pack

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"
)

// A streamed member lands after the in-memory ones with the same header
// rules: root's, 0644, the mtime clamped to SOURCE_DATE_EPOCH; a reader
// that gives fewer bytes than announced is an error.
func TestWriteFileFrom(t *testing.T) {
	epoch := time.Unix(1767225600, 0)
	var buf bytes.Buffer
	tw, err := NewTarWriter(&buf, TarOptions{SourceDateEpoch: &epoch})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteFiles([]FileEntry{{Name: "metadata.yaml", Mode: 0o644, Data: []byte("architecture: x86_64\n")}, {Name: "templates/", Mode: fs.ModeDir | 0o755}}); err != nil {
		t.Fatal(err)
	}
	disk := strings.Repeat("QFI\xfb", 5000)
	if err := tw.WriteFileFrom("rootfs.img", epoch.Add(time.Hour), int64(len(disk)), strings.NewReader(disk+"more")); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if st := tw.Stats(); st.Entries != 3 {
		t.Errorf("stats %+v", st)
	}
	tr := tar.NewReader(&buf)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name != "rootfs.img" {
			continue
		}
		data, _ := io.ReadAll(tr)
		if string(data) != disk || h.Mode != 0o644 || h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(epoch) || h.Typeflag != tar.TypeReg {
			t.Errorf("rootfs.img: %d bytes, header %+v", len(data), h)
		}
	}
	if strings.Join(names, " ") != "metadata.yaml templates/ rootfs.img" {
		t.Errorf("entries %v", names)
	}

	tw, _ = NewTarWriter(io.Discard, TarOptions{})
	if err := tw.WriteFileFrom("rootfs.img", time.Time{}, 10, strings.NewReader("short")); err == nil || !strings.Contains(err.Error(), "not the 10 announced") {
		t.Errorf("a short reader: %v", err)
	}
	if err := tw.WriteFileFrom("../rootfs.img", time.Time{}, 0, strings.NewReader("")); err == nil {
		t.Error("a path climbing out was accepted")
	}
}
