package confined

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
)

// holeBlock is the granularity of holes: the page size, and the block
// size of the file systems builds run on (ext4, xfs, tmpfs).
const holeBlock = 4096

// holeWriter writes files leaving each all-zero block a hole, as
// unsquashfs does for every image with a squashfs rootfs: a sparse file
// from an archive (whose holes archive/tar's reader hands over as zeros)
// then takes on disk what its data takes, not its size. A dense file
// of zeros becomes sparse too: same bytes, fewer blocks.
type holeWriter struct {
	buf, zero []byte
}

func newHoleWriter() *holeWriter {
	return &holeWriter{buf: make([]byte, 256<<10), zero: make([]byte, holeBlock)}
}

// write copies r into f, which is empty, and sets f's size; it returns
// the bytes read.
func (h *holeWriter) write(f *os.File, r io.Reader) (int64, error) {
	var off int64
	for {
		n, err := io.ReadFull(r, h.buf)
		if n > 0 {
			if werr := h.writeData(f, h.buf[:n], off); werr != nil {
				return off, werr
			}
			off += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return off, err
		}
	}
	// The size, whether or not the file ends in a hole.
	return off, f.Truncate(off)
}

// writeData writes p, which belongs at off (a multiple of holeBlock),
// one run of non-zero blocks at a time.
func (h *holeWriter) writeData(f *os.File, p []byte, off int64) error {
	zero := func(i int) bool { return bytes.Equal(p[i:min(i+holeBlock, len(p))], h.zero[:min(holeBlock, len(p)-i)]) }
	for i := 0; i < len(p); {
		if zero(i) {
			i += holeBlock
			continue
		}
		j := i + holeBlock
		for j < len(p) && !zero(j) {
			j += holeBlock
		}
		j = min(j, len(p))
		if _, err := f.WriteAt(p[i:j], off+int64(i)); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// ctxReader stops a long read (a large file of an archive) when ctx
// ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
