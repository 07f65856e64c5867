package confined

// What an archive or a layer may expand to, and read: limits { tarball_size }.

import (
	"archive/tar"
	"fmt"
	"io"
	"math"
)

// entryOverhead is what each entry counts toward an archive's expanded
// size besides its file's bytes, as tar counts a header: it bounds an
// archive of millions of empty files, whose every inode costs.
const entryOverhead = 512

// expand adds hdr's entry to what the archive expanded to so far, and
// refuses it when that passes maxSize.
func expand(expanded int64, hdr *tar.Header, maxSize int64) (int64, error) {
	var file int64
	if carriesData(hdr.Typeflag) {
		file = max(hdr.Size, 0)
	}
	if size := file + entryOverhead; size > maxSize-expanded {
		what := "this entry"
		if file > 0 {
			what = "a file of " + approxSize(file)
		}
		return expanded, fmt.Errorf("the archive expands past %s here, with %s after %s of entries before it; a recipe's limits { tarball_size } sets the bound (%s by default)",
			FormatSize(maxSize), what, approxSize(expanded), FormatSize(DefaultMaxExtract))
	}
	return expanded + file + entryOverhead, nil
}

// streamAllowance is what a tar stream may hold, headers and padding
// included, for maxSize of entries (see expand): a header is 512 bytes
// and a PAX record up to 1 MiB, of which an entry counts 512. Eight times
// the bound leaves an archive of one-byte files with PAX headers (four
// blocks an entry) room; headers alone can no longer make a small
// compressed archive read without end.
func streamAllowance(maxSize int64) int64 {
	const slack = 1 << 20
	if maxSize > (math.MaxInt64-slack)/8 {
		return math.MaxInt64
	}
	return 8*maxSize + slack
}

// streamBound reads r until left bytes are read, then fails.
type streamBound struct {
	r           io.Reader
	left, total int64
}

func (b *streamBound) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, fmt.Errorf("the archive's tar stream is longer than %s, eight times what its entries may expand to (limits { tarball_size }), in headers and padding", approxSize(b.total))
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

// carriesData says whether the tar reader reads an entry of this type's
// size in data: a regular file's, and every type's but those whose
// headers are all there is (archive/tar's isHeaderOnlyType). An entry
// that is read but not created (a whiteout, aufs metadata, an unknown
// type a layer skips) costs the read all the same.
func carriesData(typ byte) bool {
	switch typ {
	case tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeDir, tar.TypeFifo:
		return false
	}
	return true
}

// approxSize writes n bytes for people: "1.0 GiB", "86.2 KiB".
func approxSize(n int64) string {
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	if n < 1<<10 {
		return fmt.Sprintf("%d bytes", n)
	}
	v, i := float64(n)/(1<<10), 0
	for v >= 1024 && i < len(units)-1 {
		v, i = v/1024, i+1
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
