package pack_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/pack"
)

// TestSparseFileRoundTrip: the tar writer archives a sparse file in full
// (a tar entry of its size, the same bytes whatever file system the
// tree is on: see docs/benchmarks.md for the cost), which compresses to
// almost nothing; extraction makes the holes again, so a stage cache
// snapshot (zstd-1) of a tree with a 1 GiB sparse file stays small on
// disk both ways.
func TestSparseFileRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 1 GiB of holes; skipped with -short")
	}
	root := t.TempDir()
	big := filepath.Join(root, "big.img")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("end"), 1<<30-3); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := pack.ParseCompression("zstd-1")
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "snapshot.tar.zst")
	info, err := pack.WriteCompressed(context.Background(), archive, c, 2, func(w io.Writer) error {
		_, err := pack.WriteTree(context.Background(), w, root, pack.TarOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if info.Size > 1<<20 {
		t.Errorf("1 GiB of holes packed into %d bytes", info.Size)
	}
	out := t.TempDir()
	if err := confined.ExtractArchive(context.Background(), archive, out, 0); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(out, "big.img"), &st); err != nil || st.Size != 1<<30 || st.Blocks*512 > 1<<20 {
		t.Errorf("extracted: %v, size %d, %d bytes on disk", err, st.Size, st.Blocks*512)
	}
	tail := make([]byte, 3)
	g, err := os.Open(filepath.Join(out, "big.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.ReadAt(tail, 1<<30-3); err != nil || !bytes.Equal(tail, []byte("end")) {
		t.Errorf("the file's end reads %q, %v", tail, err)
	}
}
