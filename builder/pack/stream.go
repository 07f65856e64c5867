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

	"golang.org/x/sys/unix"
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
	out := &hashingWriter{ctx: ctx, w: &writebackFile{f: f}, h: sha256.New()}
	comp, err := NewCompressor(c, out, threads)
	if err != nil {
		return FileInfo{}, fmt.Errorf("writing %s: %w", path, err)
	}
	// tar writes 512-byte headers and small files; the compressors and
	// the file want large writes. The chunked compressors (zstd, xz)
	// buffer a whole chunk themselves and lend it to the tar writer to
	// read files into: a bufio.Writer in front would only add a copy.
	var dst io.Writer = comp
	var buf *bufio.Writer
	if _, ok := comp.(spaceLender); !ok {
		buf = bufio.NewWriterSize(comp, 1<<20)
		dst = buf
	}

	err = write(dst)
	if err == nil {
		err = ctx.Err()
	}
	if err == nil && buf != nil {
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

// writebackFile writes to f and asks the kernel to start writing each
// writebackStep bytes to disk as soon as they are written, so that the
// final fsync waits for the last few MiB only. Without it the fsync of a
// 100 MB zstd image took 70-110 ms, 7-9% of the whole pass, spent after
// compression had ended; with it the disk works while the compressor
// does. It is a hint: the fsync at the end is what makes the file
// durable, so a failing sync_file_range (a filesystem without it) only
// turns the hint off.
type writebackFile struct {
	f       *os.File
	off     int64 // bytes written
	started int64 // bytes handed to writeback
	noHint  bool  // sync_file_range failed once: stop asking
}

// writebackStep is how many written bytes are handed to writeback at
// once: large enough that the call is rare, small enough that little is
// left for the fsync.
const writebackStep = 8 << 20

func (w *writebackFile) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if !w.noHint && w.off-w.started >= writebackStep {
		if unix.SyncFileRange(int(w.f.Fd()), w.started, w.off-w.started, unix.SYNC_FILE_RANGE_WRITE) != nil {
			w.noHint = true
		}
		w.started = w.off
	}
	return n, err
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
