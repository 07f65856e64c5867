package pack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteCompressed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rootfs.tar.zst")
	data := mixedData(3 << 20)
	info, err := WriteCompressed(context.Background(), path, mustCompression(t, "zstd"), 2, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(file)
	if info != (FileInfo{Name: "rootfs.tar.zst", Size: int64(len(file)), SHA256: hex.EncodeToString(sum[:])}) {
		t.Errorf("FileInfo %+v does not describe the file", info)
	}
	if got := decompress(t, "zstd", file); !bytes.Equal(got, data) {
		t.Error("the file does not decompress to what was written")
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("directory holds %q, want only the file", names)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", st.Mode(), err)
	}
}

// On any failure no file appears under the final name, an existing one
// is left alone, and no temporary file stays behind.
func TestWriteCompressedFailures(t *testing.T) {
	boom := errors.New("boom")
	big := mixedData(30 << 20)
	for _, tc := range []struct {
		name  string
		write func(ctx context.Context, cancel func(), w io.Writer) error
		want  error
	}{
		{"write fails at once", func(_ context.Context, _ func(), _ io.Writer) error { return boom }, boom},
		{"write fails midway", func(_ context.Context, _ func(), w io.Writer) error {
			w.Write(big)
			return boom
		}, boom},
		{"cancelled midway, write notices", func(ctx context.Context, cancel func(), w io.Writer) error {
			w.Write(big)
			cancel()
			_, err := WriteTree(ctx, w, t.TempDir(), TarOptions{})
			return err
		}, context.Canceled},
		{"cancelled midway, write does not notice", func(_ context.Context, cancel func(), w io.Writer) error {
			w.Write(big)
			cancel()
			w.Write(big)
			return nil
		}, context.Canceled},
		{"cancelled at the end", func(_ context.Context, cancel func(), w io.Writer) error {
			w.Write([]byte("small"))
			cancel()
			return nil
		}, context.Canceled},
	} {
		for _, compression := range []string{"xz", "zstd", "gzip", "none"} {
			t.Run(tc.name+"/"+compression, func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "image.tar")
				if err := os.WriteFile(path, []byte("previous build"), 0o644); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				_, err := WriteCompressed(ctx, path, mustCompression(t, compression), 2, func(w io.Writer) error {
					return tc.write(ctx, cancel, w)
				})
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), path) {
					t.Errorf("err = %v, want %v naming %s", err, tc.want, path)
				}
				if names := dirNames(t, dir); len(names) != 1 || names[0] != "image.tar" {
					t.Errorf("directory holds %q, want only the previous image.tar", names)
				}
				if data, _ := os.ReadFile(path); string(data) != "previous build" {
					t.Errorf("the previous file was changed to %q", data)
				}
			})
		}
	}
}

func TestWriteCompressedBadDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "image.tar.xz")
	_, err := WriteCompressed(context.Background(), path, mustCompression(t, "xz"), 1, func(io.Writer) error { return nil })
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want an error naming %s", err, path)
	}
}
