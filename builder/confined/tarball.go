package confined

// The `tarball` bootstrap backend: open a (compressed) tar archive and
// extract it into a rootfs, refusing every entry that could write outside.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"
)

// Archive formats as detectFormat names them.
const (
	formatTar   = "tar"
	formatGzip  = "gzip"
	formatXz    = "xz"
	formatZstd  = "zstd"
	formatBzip2 = "bzip2"
)

// detectFormat names the format from a file's first bytes (at least 262
// for a plain tar), or returns "". Magic numbers rather than file name
// extensions, since downloaded tarballs are often named oddly.
func detectFormat(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return formatGzip
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return formatXz
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return formatZstd
	case bytes.HasPrefix(head, []byte("BZh")):
		return formatBzip2
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		// POSIX "ustar\x0000" and GNU "ustar  \x00" alike.
		return formatTar
	}
	return ""
}

// archive is a decompressed stream that closes its decompressor and file.
type archive struct {
	io.Reader
	closers []func() error
}

func (a *archive) Close() error {
	var errs []error
	for _, c := range a.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// OpenArchive opens a tar archive, plain or compressed with gzip, xz,
// zstd or bzip2 (detected by magic bytes), and returns its tar stream.
func OpenArchive(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening archive: %w", err)
	}
	return openArchive(f, path)
}

// openArchive is OpenArchive on an open file, which closing the stream
// closes.
func openArchive(f *os.File, path string) (io.ReadCloser, error) {
	a, err := decompress(f, path)
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	a.closers = append([]func() error{f.Close}, a.closers...)
	return a, nil
}

// Decompress returns the tar stream of r, a tar archive plain or
// compressed with gzip, xz, zstd or bzip2 (detected by magic bytes);
// name names it in errors. Closing the stream closes the decompressor,
// not r.
func Decompress(r io.Reader, name string) (io.ReadCloser, error) {
	a, err := decompress(r, name)
	if err != nil {
		return nil, err
	}
	return a, nil
}

func decompress(r io.Reader, path string) (*archive, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	head, err := br.Peek(512)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("reading archive %s: %w", path, err)
	}
	a := &archive{}
	switch format := detectFormat(head); format {
	case formatGzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading gzip archive %s: %w", path, err)
		}
		a.Reader, a.closers = zr, append(a.closers, zr.Close)
	case formatXz:
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading xz archive %s: %w", path, err)
		}
		a.Reader = xr
	case formatZstd:
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading zstd archive %s: %w", path, err)
		}
		a.Reader, a.closers = zr, append(a.closers, func() error { zr.Close(); return nil })
	case formatBzip2:
		a.Reader = bzip2.NewReader(br)
	case formatTar:
		a.Reader = br
	default:
		what := "it is empty"
		if len(head) > 0 {
			what = fmt.Sprintf("it starts with % x", head[:min(8, len(head))])
		}
		return nil, fmt.Errorf("%s: unknown archive format: not a tar archive, nor one compressed with gzip, xz, zstd or bzip2 (%s)", path, what)
	}
	return a, nil
}

// ExtractArchive extracts the (compressed) tar archive at path into root,
// up to maxSize (see ExtractTar). Extraction errors name the entry; the
// caller names the archive.
func ExtractArchive(ctx context.Context, path, root string, maxSize int64) (err error) {
	a, err := OpenArchive(path)
	if err != nil {
		return err
	}
	defer closeInto(a, &err)
	return ExtractTar(ctx, a, root, maxSize)
}

// ExtractArchiveFile is ExtractArchive on a file the caller opened and
// checked (a cache snapshot whose sha256 it verified): what is extracted
// is what was checked, not whatever the path names by now. It closes f.
func ExtractArchiveFile(ctx context.Context, f *os.File, root string, maxSize int64) (err error) {
	a, err := openArchive(f, f.Name())
	if err != nil {
		return err
	}
	defer closeInto(a, &err)
	return ExtractTar(ctx, a, root, maxSize)
}

// ExtractTar extracts a tar stream into root, keeping numeric owners
// (when running as root, as GNU tar does), modes with setuid bits,
// mtimes, xattrs (PAX SCHILY.xattr.*), hardlinks, symlinks, device nodes
// and fifos. It refuses, naming the entry, absolute names, names with a
// ".." component, hardlinks whose target does either, and symlinks whose
// relative target climbs above the root from where the link sits. Every
// write goes through Root, so a symlink extracted earlier cannot redirect
// a later entry outside: for `a -> /tmp/outside` then `a/evil`, "a" is
// resolved inside the image and the entry fails or lands there.
// An existing directory is kept, any other existing object replaced.
// Every all-zero block of a file is left a hole, so a sparse file takes
// on disk what its data takes (see holeWriter).
//
// maxSize bounds what the archive expands to: the sum of its files'
// sizes, holes included, and entryOverhead per entry; past it, the entry
// that would cross it is refused before anything of it is written. A
// few kilobytes of xz hold terabytes of zeros, and a sparse entry's
// size costs the archive nothing. maxSize <= 0 means the default,
// DefaultMaxExtract. ctx is checked between entries and while a file is
// written.
func ExtractTar(ctx context.Context, r io.Reader, root string, maxSize int64) error {
	return extractTar(ctx, r, "", root, maxSize)
}

// ExtractTarBelow is ExtractTar keeping only the entries below the
// directory prefix ("rootfs"), re-rooted at root: a unified image's root
// filesystem without the metadata.yaml and templates/ beside it. Entries
// elsewhere are skipped; a hard link below prefix to an entry outside it
// is refused, since that entry is not extracted. Names are checked
// before the prefix is stripped, so "rootfs/../etc" is refused as a
// climbing name rather than read as "etc".
func ExtractTarBelow(ctx context.Context, r io.Reader, prefix, root string, maxSize int64) error {
	parts, err := splitPath(prefix)
	if err != nil || len(parts) == 0 {
		return fmt.Errorf("extracting below %q: not a directory name inside the archive", prefix)
	}
	return extractTar(ctx, r, strings.Join(parts, "/"), root, maxSize)
}

// extractTar is ExtractTar of the entries below prefix, all when it is "".
func extractTar(ctx context.Context, r io.Reader, prefix, root string, maxSize int64) (err error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxExtract
	}
	rt, err := OpenRoot(root)
	if err != nil {
		return err
	}
	defer closeInto(rt, &err)
	w := &treeWriter{root: rt, owners: os.Geteuid() == 0, holes: newHoleWriter()}
	var expanded int64
	if err := extractEntries(ctx, r, w, &expanded, maxSize, prefix, nil); err != nil {
		return err
	}
	return w.finish()
}

// extractEntries creates a tar stream's entries below prefix (all when
// it is "") with w, adding what they expand to to *expanded, up to
// maxSize. A layer (an OCI image layer, see Layers) takes its whiteout
// entries instead, and learns what the stream created.
func extractEntries(ctx context.Context, r io.Reader, w *treeWriter, expanded *int64, maxSize int64, prefix string, layer *layerState) error {
	allowed := streamAllowance(maxSize)
	tr := tar.NewReader(&streamBound{r: r, left: allowed, total: allowed})
	var skipped int64
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("extraction stopped: %w", err)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		// With GODEBUG=tarinsecurepath=0 the reader flags bad names
		// itself; tarNode refuses them with the entry's name either way.
		if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && hdr != nil) {
			return fmt.Errorf("reading the archive: %w", err)
		}
		name := hdr.Name
		if prefix != "" {
			h, err := rebase(hdr, prefix)
			if err != nil {
				return fmt.Errorf("extracting %q: %w", name, err)
			}
			if h == nil {
				// Skipped, but read: bounded apart from what is
				// extracted, by the same size.
				if skipped, err = expand(skipped, hdr, maxSize); err != nil {
					return fmt.Errorf("skipping %q: %w", name, err)
				}
				continue
			}
			hdr = h
		}
		if *expanded, err = expand(*expanded, hdr, maxSize); err != nil {
			return fmt.Errorf("extracting %q: %w", name, err)
		}
		if layer != nil {
			handled, err := layer.whiteout(w, hdr)
			if err != nil {
				return fmt.Errorf("extracting %q: %w", name, err)
			}
			if handled {
				continue
			}
		}
		n, err := tarNode(hdr, ctxReader{ctx, tr})
		if err == nil && n != nil {
			err = w.create(n)
		}
		if err != nil {
			return fmt.Errorf("extracting %q: %w", name, err)
		}
		if layer != nil && n != nil {
			layer.add(n.name)
		}
	}
}

// rebase returns hdr re-rooted below prefix (clean, relative), a copy
// with the prefix stripped from its name and a hard link's target; nil
// for an entry outside prefix, which is skipped.
func rebase(hdr *tar.Header, prefix string) (*tar.Header, error) {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return hdr, nil
	}
	name, err := entryName(hdr.Name)
	if err != nil {
		return nil, err
	}
	rel, ok := below(name, prefix)
	if !ok {
		return nil, nil
	}
	h := *hdr
	h.Name = rel
	if h.Typeflag == tar.TypeLink {
		target, err := entryName(h.Linkname)
		if err != nil {
			return nil, fmt.Errorf("hard link target: %w", err)
		}
		if h.Linkname, ok = below(target, prefix); !ok {
			return nil, fmt.Errorf("hard link target %q is outside %s/, which is all that is extracted", hdr.Linkname, prefix)
		}
	}
	return &h, nil
}

// below returns name (clean, relative) relative to the directory prefix:
// "." for prefix itself, false for a name outside it.
func below(name, prefix string) (string, bool) {
	if name == prefix {
		return ".", true
	}
	rest, ok := strings.CutPrefix(name, prefix+"/")
	return rest, ok
}

// DefaultMaxExtract is what an archive may expand to unless a recipe's
// limits { tarball_size } says otherwise.
const DefaultMaxExtract = 64 << 30

// FormatSize writes a byte count the way recipes write limits: in the
// largest binary unit that divides it.
func FormatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// xattrPrefix marks xattrs in PAX records, as GNU tar and star write them.
const xattrPrefix = "SCHILY.xattr."

// tarNode turns a header into the node to create; nil for entries with
// nothing to create (a global PAX header).
func tarNode(hdr *tar.Header, content io.Reader) (*node, error) {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil, nil
	}
	name, err := entryName(hdr.Name)
	if err != nil {
		return nil, err
	}
	n := &node{name: name, mode: uint32(hdr.Mode) & 0o7777, uid: hdr.Uid, gid: hdr.Gid, mtime: hdr.ModTime}
	for k, v := range hdr.PAXRecords {
		if attr, ok := strings.CutPrefix(k, xattrPrefix); ok {
			if n.xattrs == nil {
				n.xattrs = map[string][]byte{}
			}
			n.xattrs[attr] = []byte(v)
		}
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse: // the reader fills sparse holes
		n.mode |= unix.S_IFREG
		n.content = content
	case tar.TypeDir:
		n.mode |= unix.S_IFDIR
	case tar.TypeSymlink:
		if symlinkEscapes(name, hdr.Linkname) {
			return nil, fmt.Errorf("symlink target %q climbs above the root from /%s", hdr.Linkname, path.Dir(name))
		}
		n.mode |= unix.S_IFLNK
		n.symlink = hdr.Linkname
	case tar.TypeLink:
		target, err := entryName(hdr.Linkname)
		if err != nil {
			return nil, fmt.Errorf("hard link target: %w", err)
		}
		if target == "" {
			return nil, errors.New("hard link to the root directory")
		}
		n.hardlink = target
	case tar.TypeChar, tar.TypeBlock:
		n.mode |= unix.S_IFCHR
		if hdr.Typeflag == tar.TypeBlock {
			n.mode = n.mode&^unix.S_IFMT | unix.S_IFBLK
		}
		n.rdev = unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
	case tar.TypeFifo:
		n.mode |= unix.S_IFIFO
	default:
		return nil, fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
	}
	return n, nil
}

// entryName checks an archive name and returns it relative to the root.
// A leading "./" is how `tar -C dir .` spells names; a leading "/" is
// refused rather than stripped, since an archive with absolute names was
// not made for extraction into a root.
func entryName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%q is an absolute name; entries must be relative to the root", name)
	}
	parts, err := splitPath(name)
	if err != nil {
		return "", err
	}
	return strings.Join(parts, "/"), nil
}

// symlinkEscapes says whether a relative symlink target climbs above the
// root, walked from the directory holding name. Absolute targets are
// fine: inside the image they resolve against its root (and Root makes
// every write do the same).
func symlinkEscapes(name, target string) bool {
	if strings.HasPrefix(target, "/") {
		return false
	}
	depth := strings.Count(name, "/") // name is clean and relative
	for _, p := range strings.Split(target, "/") {
		switch p {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return true
			}
		default:
			depth++
		}
	}
	return false
}
