package confined

// The `directory` bootstrap backend, and the tree writer it shares with
// tarball extraction: both recreate file system objects with all their
// metadata inside a root.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// CopyTree copies the existing tree src into dst, a directory that must
// not exist yet or be empty, keeping numeric owners (when running as
// root), modes including setuid bits, mtimes, xattrs, hardlinks (found by
// device and inode), symlinks as they are, device nodes and fifos.
// Sockets are skipped: they are rebound by whoever listens, never copied.
// Like cp -x, the copy stays on src's file system: a directory where
// another is mounted (a /proc or /dev left in a source rootfs) is copied
// empty.
//
// Errors name the source or destination, or the path inside the tree;
// the caller says that a copy was going on.
func CopyTree(ctx context.Context, src, dst string) (err error) {
	// Resolve src once, so the walk below can lstat everything.
	real, err := filepath.EvalSymlinks(src)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if st, err := os.Stat(real); err != nil {
		return fmt.Errorf("source: %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("the source %s is not a directory", src)
	}
	if err := freshDir(dst); err != nil {
		return err
	}
	r, err := OpenRoot(dst)
	if err != nil {
		return err
	}
	defer closeInto(r, &err)
	rootInfo, err := r.dir.Stat()
	if err != nil {
		return err
	}
	var srcSt unix.Stat_t
	if err := unix.Stat(real, &srcSt); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	rootDev := srcSt.Dev
	w := &treeWriter{root: r, owners: os.Geteuid() == 0, holes: newHoleWriter()}
	links := map[[2]uint64]string{} // device and inode → first path copied
	err = filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := checkNotRoot(p, d, rootInfo); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(real, p)
		if err != nil {
			return err
		}
		if rel == "." {
			rel = ""
		}
		otherFS, err := copyNode(w, p, filepath.ToSlash(rel), links, rootDev)
		if err != nil {
			return fmt.Errorf("/%s: %w", filepath.ToSlash(rel), err)
		}
		if otherFS {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return err
	}
	return w.finish()
}

// copyNode recreates the host object p as rel in the writer's root.
// otherFS reports a directory on another file system than rootDev, whose
// contents the caller skips.
func copyNode(w *treeWriter, p, rel string, links map[[2]uint64]string, rootDev uint64) (otherFS bool, err error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return false, err
	}
	typ := st.Mode & unix.S_IFMT
	if typ == unix.S_IFSOCK {
		return false, nil
	}
	n := &node{
		name:  rel,
		mode:  st.Mode & (unix.S_IFMT | 0o7777),
		uid:   int(st.Uid),
		gid:   int(st.Gid),
		mtime: time.Unix(st.Mtim.Unix()),
		rdev:  st.Rdev,
	}
	if typ != unix.S_IFDIR && st.Nlink > 1 {
		id := [2]uint64{st.Dev, st.Ino}
		if first, ok := links[id]; ok {
			n.hardlink = first
			return false, w.create(n)
		}
		links[id] = rel
	}
	if n.xattrs, err = listXattrs(p); err != nil {
		return false, err
	}
	switch typ {
	case unix.S_IFLNK:
		if n.symlink, err = os.Readlink(p); err != nil {
			return false, err
		}
	case unix.S_IFREG:
		var f *os.File
		if f, err = os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0); err != nil {
			return false, err
		}
		defer closeInto(f, &err)
		n.content = f
	}
	return typ == unix.S_IFDIR && st.Dev != rootDev, w.create(n)
}

// freshDir makes sure dir exists and is empty.
func freshDir(dir string) error {
	err := os.Mkdir(dir, 0o755)
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("destination: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("the destination %s is not empty", dir)
	}
	return nil
}

// listXattrs reads every extended attribute of p itself (not of a
// symlink's target). A file system without xattr support has none.
func listXattrs(p string) (map[string][]byte, error) {
	names, err := xattrBuf(func(b []byte) (int, error) { return unix.Llistxattr(p, b) })
	if err == unix.ENOTSUP {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing xattrs: %w", err)
	}
	xattrs := map[string][]byte{}
	for _, name := range splitNul(names) {
		v, err := xattrBuf(func(b []byte) (int, error) { return unix.Lgetxattr(p, name, b) })
		if err == unix.ENODATA {
			continue // removed since listed
		}
		if err != nil {
			return nil, fmt.Errorf("reading xattr %s: %w", name, err)
		}
		xattrs[name] = v
	}
	return xattrs, nil
}

// xattrBuf calls get with a buffer large enough for its answer.
func xattrBuf(get func([]byte) (int, error)) ([]byte, error) {
	for {
		size, err := get(nil)
		if err != nil || size == 0 {
			return nil, err
		}
		buf := make([]byte, size)
		n, err := get(buf)
		if err == unix.ERANGE {
			continue // grew in between
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

func splitNul(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != 0 {
			i++
		}
		if i > 0 {
			out = append(out, string(b[:i]))
		}
		b = b[min(i+1, len(b)):]
	}
	return out
}

// node is one file system object to create inside a root, with the
// metadata to keep: what ExtractTar reads from a tar header and CopyTree
// from lstat(2).
type node struct {
	// name is the path inside the root, clean and relative; "" is the
	// root itself.
	name string
	// mode holds the type (unix.S_IFMT bits) and permission bits (07777).
	mode     uint32
	uid, gid int
	mtime    time.Time
	symlink  string // a symlink's target, stored as given
	hardlink string // for a hard link: the existing file's path inside the root
	rdev     uint64 // a device node's number
	xattrs   map[string][]byte
	content  io.Reader // a regular file's bytes
}

// treeWriter creates nodes inside a root. Owners are kept only when
// running as root, as GNU tar does: an unprivileged run cannot chown.
type treeWriter struct {
	root   *Root
	owners bool
	holes  *holeWriter
	// dirs are the directories created, whose mtimes are set last
	// because creating their entries changes them.
	dirs []node
	// replaceDirs lets a non-directory replace a directory with its
	// contents, as a later image layer replaces an earlier one's
	// (tar, and so an archive, replaces only empty ones).
	replaceDirs bool
}

func (w *treeWriter) create(n *node) error {
	dir, base, err := w.root.parent(n.name, true)
	if err != nil {
		return err
	}
	defer dir.Close()
	dfd := int(dir.Fd())
	typ := n.mode & unix.S_IFMT
	if base == "." && (typ != unix.S_IFDIR || n.hardlink != "") {
		return errors.New("the root can only be a directory")
	}
	wantDir := typ == unix.S_IFDIR && n.hardlink == ""
	if w.replaceDirs && !wantDir && base != "." {
		if err := removeDirAt(dir, base, "/"+n.name); err != nil {
			return err
		}
	}
	exists, err := clearFor(dfd, base, wantDir)
	if err != nil {
		return err
	}
	if n.hardlink != "" {
		// The link's own header fields describe the shared inode,
		// which the first entry set already.
		tdir, tbase, err := w.root.parent(n.hardlink, false)
		if err != nil {
			return fmt.Errorf("hard link target: %w", err)
		}
		defer tdir.Close()
		// Flags 0: a symlink as target is linked itself, never followed.
		if err := unix.Linkat(int(tdir.Fd()), tbase, dfd, base, 0); err != nil {
			return fmt.Errorf("hard link to /%s: %w", n.hardlink, err)
		}
		return nil
	}
	switch typ {
	case unix.S_IFDIR:
		if !exists {
			err = unix.Mkdirat(dfd, base, 0o700)
		}
	case unix.S_IFREG:
		err = w.writeNew(dfd, base, n.content)
	case unix.S_IFLNK:
		err = unix.Symlinkat(n.symlink, dfd, base)
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		err = unix.Mknodat(dfd, base, typ|0o600, int(n.rdev))
	default:
		err = fmt.Errorf("unsupported file type %#o", typ)
	}
	if err != nil {
		return err
	}
	perm := n.mode & 0o7777
	if typ == unix.S_IFLNK {
		perm = noMode
	}
	// Owner, then mode (chown clears setuid), then xattrs (chown also
	// clears security.capability).
	if err := setOwnerMode(dfd, base, n.uid, n.gid, perm, w.owners); err != nil {
		return err
	}
	if err := setXattrs(dfd, base, n.xattrs); err != nil {
		return err
	}
	if typ == unix.S_IFDIR {
		w.dirs = append(w.dirs, node{name: n.name, mtime: n.mtime})
		return nil
	}
	return setMtime(dfd, base, n.mtime)
}

// finish sets directory mtimes, deepest last-created first.
func (w *treeWriter) finish() error {
	for i := len(w.dirs) - 1; i >= 0; i-- {
		d := w.dirs[i]
		dir, base, err := w.root.parent(d.name, false)
		if err != nil {
			return err
		}
		err = setMtime(int(dir.Fd()), base, d.mtime)
		if err = errors.Join(err, dir.Close()); err != nil {
			return fmt.Errorf("/%s: %w", d.name, err)
		}
	}
	return nil
}

// clearFor makes room for a new object at base: an existing directory
// is kept when a directory is wanted, anything else is removed (a
// directory only when empty, as tar does). exists reports a kept directory.
func clearFor(dfd int, base string, wantDir bool) (exists bool, err error) {
	if base == "." {
		return true, nil
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == unix.ENOENT {
		return false, nil
	} else if err != nil {
		return false, err
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case isDir && wantDir:
		return true, nil
	case isDir:
		if err := unix.Unlinkat(dfd, base, unix.AT_REMOVEDIR); err != nil {
			return false, fmt.Errorf("replacing the existing directory: %w", err)
		}
	default:
		if err := unix.Unlinkat(dfd, base, 0); err != nil {
			return false, fmt.Errorf("replacing the existing file: %w", err)
		}
	}
	return false, nil
}

// writeNew creates base, which must not exist, with content's bytes;
// its all-zero blocks are left holes.
func (w *treeWriter) writeNew(dfd int, base string, content io.Reader) error {
	fd, err := unix.Openat(dfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	if content != nil {
		_, err = w.holes.write(f, content)
	}
	return errors.Join(err, f.Close())
}

// setXattrs sets xattrs on base itself. The path goes through the
// parent's /proc/self/fd link, which resolves to the directory handle
// already checked to be inside the root, and lsetxattr does not follow
// the final component; so this works for symlinks and device nodes too,
// which cannot be opened for fsetxattr.
func setXattrs(dfd int, base string, xattrs map[string][]byte) error {
	p := fmt.Sprintf("/proc/self/fd/%d/%s", dfd, base)
	for name, value := range xattrs {
		if err := unix.Lsetxattr(p, name, value, 0); err != nil {
			return fmt.Errorf("setting xattr %s: %w", name, err)
		}
	}
	return nil
}

// setMtime sets base's modification (and access) time without
// following it; a zero time leaves it alone.
func setMtime(dfd int, base string, mtime time.Time) error {
	if mtime.IsZero() {
		return nil
	}
	ts := unix.NsecToTimespec(mtime.UnixNano())
	if err := unix.UtimesNanoAt(dfd, base, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting mtime: %w", err)
	}
	return nil
}
