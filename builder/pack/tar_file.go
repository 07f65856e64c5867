package pack

import (
	"fmt"
	"io"
	"path"
	"time"

	"golang.org/x/sys/unix"
)

// WriteFileFrom appends one regular file of size bytes read from r under
// the archive path name, owned by root, mode 0644, its mtime clamped as
// every entry's (a zero mtime is SourceDateEpoch, else the Unix epoch):
// a member too large to hold in memory as a FileEntry, such as a VM
// image's rootfs.img, streamed from its file. r must give exactly size
// bytes; fewer is an error, more are not read.
func (t *TarWriter) WriteFileFrom(name string, mtime time.Time, size int64, r io.Reader) error {
	rel := path.Clean(name)
	if !validRel(rel) || name != rel {
		return fmt.Errorf("archive file name %q must be a clean relative path", name)
	}
	if size < 0 {
		return fmt.Errorf("archive file %s: negative size %d", name, size)
	}
	e := entry{rel: rel, mode: unix.S_IFREG | 0o644, mtime: mtime, size: size}
	if e.mtime.IsZero() {
		e.mtime = time.Unix(0, 0)
		if t.opts.SourceDateEpoch != nil {
			e.mtime = *t.opts.SourceDateEpoch
		}
	}
	// An archive path as given: no tree prefix.
	h, err := tarHeader(&e, TarOptions{SourceDateEpoch: t.opts.SourceDateEpoch})
	if err != nil {
		return err
	}
	if err := t.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("writing %s to tar: %w", name, err)
	}
	n, err := io.Copy(t.tw, io.LimitReader(r, size))
	if err != nil {
		return fmt.Errorf("writing %s to tar: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("writing %s to tar: %d bytes, not the %d announced (did the file change?)", name, n, size)
	}
	t.stats.Entries++
	t.stats.Bytes += size
	return nil
}
