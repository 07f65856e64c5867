package pack

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
)

// FileInfo describes a finished image file.
type FileInfo struct {
	// Name is the file's base name.
	Name string
	// Size is its length in bytes.
	Size int64
	// SHA256 is the lowercase hex sha256 of its bytes.
	SHA256 string
}

// WriteCompressed makes the file path from one pass: write produces the
// uncompressed stream (a tar archive), which goes through the compressor
// c into the file while its sha256 is computed on the compressed bytes.
// No uncompressed copy is ever stored.
//
// The file is written under a temporary name in the same directory,
// fsynced and renamed, so path appears only when complete (mode 0644).
// When write fails, the compressor fails or ctx is cancelled, the
// temporary file is removed and path is left as it was.
func WriteCompressed(ctx context.Context, path string, c Compression, threads int, write func(io.Writer) error) (FileInfo, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return FileInfo{}, fmt.Errorf("creating %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()

	// The file and the hash see the same compressed bytes; every write
	// checks ctx, so a cancellation stops the pass even if write and
	// the compressor do not look at it.
	out := &hashingWriter{ctx: ctx, w: f, h: sha256.New()}
	comp, err := NewCompressor(c, out, threads)
	if err != nil {
		return FileInfo{}, fmt.Errorf("writing %s: %w", path, err)
	}
	// tar writes 512-byte headers and small files; the compressors and
	// the file want large writes.
	buf := bufio.NewWriterSize(comp, 1<<20)

	err = write(buf)
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = buf.Flush()
	}
	if err != nil {
		abort(comp)
		return FileInfo{}, fmt.Errorf("writing %s: %w", path, err)
	}
	if err := comp.Close(); err != nil {
		return FileInfo{}, fmt.Errorf("compressing %s: %w", path, err)
	}
	if err := ctx.Err(); err != nil {
		return FileInfo{}, fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return FileInfo{}, fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return FileInfo{}, fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return FileInfo{}, fmt.Errorf("closing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return FileInfo{}, fmt.Errorf("renaming %s to %s: %w", tmp, path, err)
	}
	ok = true
	// The rename is durable only once the directory is synced; the file
	// is complete either way, so a failure here is reported but the file
	// stays.
	if err := syncDir(dir); err != nil {
		return FileInfo{}, fmt.Errorf("syncing directory of %s: %w", path, err)
	}
	return FileInfo{Name: base, Size: out.n, SHA256: hex.EncodeToString(out.h.Sum(nil))}, nil
}

// abort stops a compressor whose output will be thrown away, as quickly
// as it can.
func abort(c io.WriteCloser) {
	if a, ok := c.(interface{ Abort() }); ok {
		a.Abort()
		return
	}
	_ = c.Close() // the output is discarded; only its goroutines matter
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// hashingWriter writes to w and h, counting bytes, until ctx is done.
type hashingWriter struct {
	ctx context.Context
	w   io.Writer
	h   hash.Hash
	n   int64
}

func (hw *hashingWriter) Write(p []byte) (int, error) {
	if err := hw.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}
