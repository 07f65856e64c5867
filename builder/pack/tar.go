package pack

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// TarOptions configure the tar writer.
type TarOptions struct {
	// Prefix is put before every tree entry's name: "rootfs/" for a
	// unified image, "" for a split rootfs tarball (entries relative
	// to "/", the root itself as "./"). It does not apply to
	// FileEntry names, which are archive paths as given.
	Prefix string
	// SourceDateEpoch, when set, clamps every mtime to it.
	SourceDateEpoch *time.Time
}

// Stats counts what a tar writer wrote.
type Stats struct {
	// Entries is the number of archive members (headers), hard links
	// and directories included.
	Entries int64
	// Bytes is the number of file content bytes read and archived.
	Bytes int64
}

// FileEntry is a small in-memory archive member: metadata.yaml, the
// templates/ directory and its files.
type FileEntry struct {
	// Name is the archive path, such as "metadata.yaml",
	// "templates" or "templates/hostname.tpl"; a trailing slash is
	// allowed on directories.
	Name string
	// Mode gives the type (fs.ModeDir for a directory, else a regular
	// file) and permission bits; 0 permission bits mean 0644 for files
	// and 0755 for directories.
	Mode fs.FileMode
	// ModTime is clamped to SourceDateEpoch; zero means SourceDateEpoch
	// when it is set, else the Unix epoch.
	ModTime time.Time
	// Data is a file's contents.
	Data []byte
}

// TarWriter writes one deterministic tar archive, possibly from several
// sources: a unified image is WriteFiles (metadata.yaml, templates/) then
// WriteTree (rootfs/) on the same TarWriter.
type TarWriter struct {
	tw     *tar.Writer
	opts   TarOptions
	stats  Stats
	buf    []byte
	lender spaceLender // the destination, when files can be read into it
}

// spaceLender is a destination that lends its buffer's free space, so
// that file contents are read into it and written with no copy: the
// chunked compressors (chunkWriter.Space). Space returns nil when it has
// nothing to lend, so that a wrapper (a progress counter) can always
// forward it.
type spaceLender interface {
	Space() []byte
}

// NewTarWriter starts an archive on w.
func NewTarWriter(w io.Writer, opts TarOptions) (*TarWriter, error) {
	if err := validPrefix(opts.Prefix); err != nil {
		return nil, err
	}
	l, _ := w.(spaceLender)
	return &TarWriter{tw: tar.NewWriter(w), opts: opts, lender: l}, nil
}

// Stats returns what has been written so far.
func (t *TarWriter) Stats() Stats { return t.stats }

// Close writes the end-of-archive marker. It does not close the
// underlying writer.
func (t *TarWriter) Close() error {
	if err := t.tw.Close(); err != nil {
		return fmt.Errorf("finishing tar archive: %w", err)
	}
	return nil
}

// WriteTree writes a complete archive of the tree at root to w.
func WriteTree(ctx context.Context, w io.Writer, root string, opts TarOptions) (Stats, error) {
	t, err := NewTarWriter(w, opts)
	if err != nil {
		return Stats{}, err
	}
	if err := t.WriteTree(ctx, root); err != nil {
		return t.Stats(), err
	}
	return t.Stats(), t.Close()
}

// WriteFiles writes a complete archive of files to w, such as an image's
// metadata tarball.
func WriteFiles(w io.Writer, files []FileEntry, opts TarOptions) (Stats, error) {
	t, err := NewTarWriter(w, opts)
	if err != nil {
		return Stats{}, err
	}
	if err := t.WriteFiles(files); err != nil {
		return t.Stats(), err
	}
	return t.Stats(), t.Close()
}

// WriteFiles appends files: "metadata.yaml" first (LXD stops reading
// the metadata once it has it), then the others in `tar --sort=name`
// order. Every file is owned by root; a file's parent directory must be
// among the entries.
func (t *TarWriter) WriteFiles(files []FileEntry) error {
	entries := make([]entry, 0, len(files))
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		rel := path.Clean(f.Name)
		if !validRel(rel) || (f.Name != rel && f.Name != rel+"/") {
			return fmt.Errorf("metadata file name %q must be a clean relative path", f.Name)
		}
		if seen[rel] {
			return fmt.Errorf("metadata file %s given twice", rel)
		}
		seen[rel] = true
		isDir := f.Mode.IsDir() || f.Name == rel+"/"
		e := entry{rel: rel, mode: unix.S_IFREG | 0o644, mtime: f.ModTime, size: int64(len(f.Data))}
		if isDir {
			if len(f.Data) > 0 {
				return fmt.Errorf("metadata directory %s cannot have data", rel)
			}
			e.mode, e.size = unix.S_IFDIR|0o755, 0
		}
		if perm := uint32(f.Mode.Perm()); perm != 0 {
			e.mode = e.mode&unix.S_IFMT | perm
		}
		if e.mtime.IsZero() {
			e.mtime = time.Unix(0, 0)
			if t.opts.SourceDateEpoch != nil {
				e.mtime = *t.opts.SourceDateEpoch
			}
		}
		entries = append(entries, e)
	}
	for _, e := range entries {
		if dir := path.Dir(e.rel); dir != "." && !isDirEntry(entries, dir) {
			return fmt.Errorf("metadata file %s: its directory %s/ is not among the entries", e.rel, dir)
		}
	}
	slices.SortStableFunc(entries, func(a, b entry) int {
		if (a.rel == "metadata.yaml") != (b.rel == "metadata.yaml") {
			if a.rel == "metadata.yaml" {
				return -1
			}
			return 1
		}
		return CompareNames(a.rel, b.rel)
	})
	byName := make(map[string][]byte, len(files))
	for _, f := range files {
		byName[path.Clean(f.Name)] = f.Data
	}
	for i := range entries {
		e := &entries[i]
		// FileEntry names are archive paths: no tree prefix.
		h, err := tarHeader(e, TarOptions{SourceDateEpoch: t.opts.SourceDateEpoch})
		if err != nil {
			return err
		}
		if err := t.tw.WriteHeader(h); err != nil {
			return fmt.Errorf("writing %s to tar: %w", e.rel, err)
		}
		if _, err := t.tw.Write(byName[e.rel]); err != nil {
			return fmt.Errorf("writing %s to tar: %w", e.rel, err)
		}
		t.stats.Entries++
		t.stats.Bytes += e.size
	}
	return nil
}

func isDirEntry(entries []entry, rel string) bool {
	for _, e := range entries {
		if e.rel == rel && e.mode&unix.S_IFMT == unix.S_IFDIR {
			return true
		}
	}
	return false
}

// fileID identifies an inode, for hard links.
type fileID struct{ dev, ino uint64 }

// walker is one WriteTree run.
type walker struct {
	t     *TarWriter
	ctx   context.Context
	root  string
	links map[fileID]string
}

// WriteTree appends the tree at root: the root itself, then every file
// below it in `tar --sort=name` order (each directory's entries in byte
// order, a directory right before its contents). Symlinks are archived,
// never followed; device contents are never read; sockets are skipped.
// Directories and files are opened relative to their parent's
// descriptor with O_NOFOLLOW, so a symlink swapped in during the walk
// cannot lead outside the tree.
func (t *TarWriter) WriteTree(ctx context.Context, root string) error {
	if t.buf == nil {
		t.buf = make([]byte, 256<<10)
	}
	dir, err := os.Open(root)
	if err != nil {
		return fmt.Errorf("archiving %s: %w", root, err)
	}
	defer dir.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &st); err != nil {
		return fmt.Errorf("archiving %s: %w", root, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("archiving %s: not a directory", root)
	}
	w := &walker{t: t, ctx: ctx, root: root, links: make(map[fileID]string)}
	return w.dir(dir, "", &st)
}

// dir writes the directory d (already open, stat st) and its contents.
func (w *walker) dir(d *os.File, rel string, st *unix.Stat_t) error {
	full := filepath.Join(w.root, filepath.FromSlash(rel))
	xattrs, err := readXattrs(full, fdXattrs(int(d.Fd())))
	if err != nil {
		return err
	}
	if err := w.header(rel, st, "", xattrs); err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("reading directory %s: %w", full, err)
	}
	slices.Sort(names) // byte order, as tar --sort=name
	for _, name := range names {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		if err := w.child(d, path.Join(rel, name), name); err != nil {
			return err
		}
	}
	return nil
}

// child writes one directory entry of parent.
func (w *walker) child(parent *os.File, rel, name string) error {
	full := filepath.Join(w.root, filepath.FromSlash(rel))
	pfd := int(parent.Fd())
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("archiving %s: %w", full, err)
	}
	typ := st.Mode & unix.S_IFMT
	if typ == unix.S_IFSOCK {
		return nil
	}
	if typ == unix.S_IFDIR {
		d, err := openAt(pfd, name, unix.O_DIRECTORY, &st, full)
		if err != nil {
			return err
		}
		defer d.Close()
		return w.dir(d, rel, &st)
	}

	id := fileID{uint64(st.Dev), st.Ino}
	if st.Nlink > 1 {
		if first, ok := w.links[id]; ok {
			return w.link(rel, &st, first)
		}
		w.links[id] = archiveName(&entry{rel: rel, mode: st.Mode}, w.t.opts.Prefix)
	}

	switch typ {
	case unix.S_IFREG:
		f, err := openAt(pfd, name, 0, &st, full)
		if err != nil {
			return err
		}
		defer f.Close()
		xattrs, err := readXattrs(full, fdXattrs(int(f.Fd())))
		if err != nil {
			return err
		}
		if err := w.header(rel, &st, "", xattrs); err != nil {
			return err
		}
		return w.copyFile(f, st.Size, full)
	case unix.S_IFLNK:
		target, err := readlinkAt(pfd, name)
		if err != nil {
			return fmt.Errorf("reading symlink %s: %w", full, err)
		}
		xattrs, err := readXattrs(full, pathXattrs(full))
		if err != nil {
			return err
		}
		return w.header(rel, &st, target, xattrs)
	default:
		// Devices and fifos: never opened, so never read and never
		// blocked on; their xattrs are read by path with l*xattr,
		// which does not follow the last component.
		xattrs, err := readXattrs(full, pathXattrs(full))
		if err != nil {
			return err
		}
		return w.header(rel, &st, "", xattrs)
	}
}

// header writes the header of the tree entry rel.
func (w *walker) header(rel string, st *unix.Stat_t, symlink string, xattrs map[string]string) error {
	e := entry{
		rel: rel, mode: st.Mode, uid: int(st.Uid), gid: int(st.Gid),
		mtime: time.Unix(st.Mtim.Unix()), size: st.Size,
		symlink: symlink, rdev: uint64(st.Rdev), xattrs: xattrs,
	}
	return w.write(&e)
}

// link writes a later path of an already archived inode.
func (w *walker) link(rel string, st *unix.Stat_t, first string) error {
	e := entry{
		rel: rel, mode: st.Mode, uid: int(st.Uid), gid: int(st.Gid),
		mtime: time.Unix(st.Mtim.Unix()), hardlinkTo: first,
	}
	return w.write(&e)
}

func (w *walker) write(e *entry) error {
	h, err := tarHeader(e, w.t.opts)
	if err != nil {
		return err
	}
	if err := w.t.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("archiving %s: %w", filepath.Join(w.root, e.rel), err)
	}
	w.t.stats.Entries++
	return nil
}

// copyFile archives exactly size bytes of f, and fails if the file
// changed size while it was read: such an archive would not be the tree.
func (w *walker) copyFile(f *os.File, size int64, full string) error {
	left := size
	for left > 0 {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		buf := w.t.buf
		if w.t.lender != nil {
			// archive/tar passes the bytes of a file entry to its
			// writer as they are, so they land where they were read.
			if space := w.t.lender.Space(); len(space) > 0 {
				buf = space
			}
		}
		n, err := f.Read(buf[:min(int64(len(buf)), left)])
		if n > 0 {
			if _, werr := w.t.tw.Write(buf[:n]); werr != nil {
				return fmt.Errorf("archiving %s: %w", full, werr)
			}
			left -= int64(n)
			w.t.stats.Bytes += int64(n)
		}
		if errors.Is(err, io.EOF) {
			if left > 0 {
				return fmt.Errorf("archiving %s: file shrank while being read", full)
			}
			break
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", full, err)
		}
	}
	if n, _ := f.Read(w.t.buf[:1]); n > 0 {
		return fmt.Errorf("archiving %s: file grew while being read", full)
	}
	return nil
}

// openAt opens name in the directory dirfd without following a symlink,
// and checks it is still the inode st describes.
func openAt(dirfd int, name string, flags int, st *unix.Stat_t, full string) (*os.File, error) {
	// O_NONBLOCK: if a fifo replaced the file since the stat, the open
	// must not hang; the inode check below then refuses it.
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK|flags, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", full, err)
	}
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("opening %s: %w", full, err)
	}
	if now.Dev != st.Dev || now.Ino != st.Ino || now.Mode&unix.S_IFMT != st.Mode&unix.S_IFMT {
		unix.Close(fd)
		return nil, fmt.Errorf("opening %s: replaced while being archived", full)
	}
	return os.NewFile(uintptr(fd), full), nil
}

// readlinkAt reads a symlink's target relative to a directory fd.
func readlinkAt(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
