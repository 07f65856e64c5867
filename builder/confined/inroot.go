// Package confined holds the file operations that stay inside an image's
// root filesystem: Root (inroot.go) resolves every path with openat2's
// RESOLVE_IN_ROOT, so a symlink in the image never leads to the host.
// On it are built the file, copy and remove steps (files.go), account
// lookups (accounts.go), tree copies (directory.go), archive extraction
// (tarball.go) and sparse writes (sparse.go).
package confined

// The in-root primitives every write into a rootfs goes through.
//
// A path inside an image is resolved by the kernel as if the process were
// chrooted into the image: openat2(2) with RESOLVE_IN_ROOT treats an
// absolute symlink as relative to the image root and clamps ".." there, so
// /etc -> /host-etc or /etc -> ../../../etc in the image can never lead to
// the host. Only parent directories are resolved that way; the final
// component of a path is handled with *at calls on the parent's handle
// that never follow it (unlinkat, renameat, fchownat with
// AT_SYMLINK_NOFOLLOW, openat with O_NOFOLLOW|O_EXCL), so a symlink there
// is replaced or removed as a link, never written through.

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Root is an open handle on an image's root directory. Paths given to its
// methods are paths inside the image, "/etc/passwd" or "etc/passwd".
type Root struct {
	dir  *os.File
	path string
}

// Attrs are the owner and permission bits a write applies.
type Attrs struct {
	UID, GID int
	// Mode is the permission bits including setuid, setgid and sticky (07777).
	Mode uint32
}

// OpenRoot opens the directory path as an image root.
func OpenRoot(path string) (*Root, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening image root %s: %w", path, err)
	}
	return &Root{dir: os.NewFile(uintptr(fd), path), path: path}, nil
}

// Close releases the root's handle.
func (r *Root) Close() error { return r.dir.Close() }

// Path returns the host path the root was opened with.
func (r *Root) Path() string { return r.path }

// splitPath checks a path inside the image and returns its components.
// ".." is refused rather than clamped: callers never need it, and a path
// that tries to climb is a recipe or archive that deserves an error.
func splitPath(name string) ([]string, error) {
	if strings.ContainsRune(name, 0) {
		return nil, fmt.Errorf("%q contains a NUL byte", name)
	}
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
		case "..":
			return nil, fmt.Errorf("%q has a \"..\" component; paths may not climb out of a directory", name)
		default:
			parts = append(parts, p)
		}
	}
	return parts, nil
}

// display spells components as the absolute path inside the image that
// error messages show.
func display(parts []string) string { return "/" + strings.Join(parts, "/") }

// openat2 opens name (a clean relative path, "." for the root) resolved
// inside the root, with extra RESOLVE_* flags. RESOLVE_NO_MAGICLINKS keeps
// /proc/self/root-style links in a mounted /proc from leading out.
func (r *Root) openat2(name string, flags, resolve uint64) (*os.File, error) {
	how := unix.OpenHow{
		Flags:   flags | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | resolve,
	}
	for tries := 0; ; tries++ {
		fd, err := unix.Openat2(int(r.dir.Fd()), name, &how)
		// EAGAIN: a concurrent rename made the kernel unsure the
		// resolution stayed inside; retrying is what it asks for.
		if (err == unix.EAGAIN || err == unix.EINTR) && tries < 64 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return os.NewFile(uintptr(fd), path.Join(r.path, name)), nil
	}
}

// OpenDir opens the existing directory name inside the root, following
// symlinks inside the image.
func (r *Root) OpenDir(name string) (*os.File, error) {
	parts, err := splitPath(name)
	if err != nil {
		return nil, err
	}
	return r.openDir(parts)
}

func (r *Root) openDir(parts []string) (*os.File, error) { return r.openDirResolve(parts, 0) }

func (r *Root) openDirResolve(parts []string, resolve uint64) (*os.File, error) {
	rel := "."
	if len(parts) > 0 {
		rel = strings.Join(parts, "/")
	}
	f, err := r.openat2(rel, unix.O_RDONLY|unix.O_DIRECTORY, resolve)
	if err == unix.EXDEV {
		return nil, fmt.Errorf("%s in the image is on another mount: %w", display(parts), err)
	}
	if err != nil {
		return nil, fmt.Errorf("opening directory %s in the image: %w", display(parts), err)
	}
	return f, nil
}

// MkdirAll opens the directory name inside the root, creating what is
// missing as root:root 0755 (owned by the caller when not running as
// root). An existing symlink on the way is followed inside the image; one
// that does not resolve to a directory there is an error, as with mkdir -p.
func (r *Root) MkdirAll(name string) (*os.File, error) {
	parts, err := splitPath(name)
	if err != nil {
		return nil, err
	}
	return r.mkdirAll(parts)
}

func (r *Root) mkdirAll(parts []string) (*os.File, error) {
	if f, err := r.openDir(parts); err == nil || !errors.Is(err, unix.ENOENT) {
		return f, err
	}
	// Slow path: resolve prefix by prefix, creating the missing component
	// in the directory its prefix resolved to.
	dir, err := r.openDir(nil)
	if err != nil {
		return nil, err
	}
	for i, p := range parts {
		next, err := r.openDir(parts[:i+1])
		if errors.Is(err, unix.ENOENT) {
			next, err = r.mkdirIn(dir, p, parts[:i+1])
		}
		dir.Close()
		if err != nil {
			return nil, err
		}
		dir = next
	}
	return dir, nil
}

// mkdirIn creates the directory p in dir, whose path in the image is
// parts without its last element.
func (r *Root) mkdirIn(dir *os.File, p string, parts []string) (*os.File, error) {
	dfd := int(dir.Fd())
	err := unix.Mkdirat(dfd, p, 0o700)
	if err == unix.EEXIST {
		// The name exists but did not resolve: a dangling symlink, or
		// one that points outside and so resolves to a missing path
		// inside the image. mkdir -p refuses both; so do we.
		if target, lerr := readlinkAt(dfd, p); lerr == nil {
			return nil, fmt.Errorf("creating directory %s: it is a symbolic link to %q, which does not resolve to a directory inside the image", display(parts), target)
		}
		return r.openDir(parts) // created concurrently
	}
	if err != nil {
		return nil, fmt.Errorf("creating directory %s: %w", display(parts), err)
	}
	// Created 0700 so nothing sees it before its final owner and mode.
	if err := setOwnerMode(dfd, p, 0, 0, 0o755, os.Geteuid() == 0); err != nil {
		return nil, fmt.Errorf("creating directory %s: %w", display(parts), err)
	}
	return r.openDir(parts)
}

// parent opens the directory holding name and returns it with the final
// component; base is "." when name is the image root. create makes
// missing parents.
func (r *Root) parent(name string, create bool) (dir *os.File, base string, err error) {
	parts, err := splitPath(name)
	if err != nil {
		return nil, "", err
	}
	if len(parts) == 0 {
		dir, err = r.openDir(nil)
		return dir, ".", err
	}
	if create {
		dir, err = r.mkdirAll(parts[:len(parts)-1])
	} else {
		dir, err = r.openDir(parts[:len(parts)-1])
	}
	return dir, parts[len(parts)-1], err
}

// ReadFile reads the regular file name inside the root, following
// symlinks inside the image. Anything but a regular file is refused, so a
// fifo planted at /etc/passwd cannot hang the build.
func (r *Root) ReadFile(name string) ([]byte, error) {
	parts, err := splitPath(name)
	if err != nil {
		return nil, err
	}
	// Look before opening: opening a device node can have effects (a
	// watchdog arms on open), so the file is first reached with O_PATH
	// and only reopened, the very same inode, once it is known regular.
	ref, err := r.openat2(strings.Join(parts, "/"), unix.O_PATH, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s in the image: %w", display(parts), err)
	}
	defer ref.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(ref.Fd()), &st); err != nil {
		return nil, fmt.Errorf("%s in the image: %w", display(parts), err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s in the image is not a regular file", display(parts))
	}
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(int(ref.Fd())), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s in the image: %w", display(parts), err)
	}
	f := os.NewFile(uintptr(fd), display(parts))
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s in the image: %w", display(parts), err)
	}
	return b, nil
}

// Lstat describes name inside the root without following its final
// component.
func (r *Root) Lstat(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	dir, base, err := r.parent(name, false)
	if err != nil {
		return st, err
	}
	defer dir.Close()
	err = unix.Fstatat(int(dir.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW)
	return st, err
}

// WriteFile creates or replaces the file name with content's bytes and
// attrs: written to a temporary name in the same directory, fsynced, then
// renamed over the old name, so the image never holds a partial file. A
// symlink at name is replaced, not written through.
func (r *Root) WriteFile(name string, content io.Reader, a Attrs) error {
	dir, base, err := r.parent(name, true)
	if err != nil {
		return err
	}
	defer dir.Close()
	if base == "." {
		return errors.New("the image root is a directory")
	}
	return replaceAt(dir, base, func(dfd int, tmp string) error {
		fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), tmp)
		_, err = io.Copy(f, content)
		if err == nil {
			err = setOwnerMode(dfd, tmp, a.UID, a.GID, a.Mode, true)
		}
		if err == nil {
			err = f.Sync()
		}
		return errors.Join(err, f.Close())
	})
}

// Symlink creates or replaces name with a symlink to target owned by
// uid:gid, atomically like WriteFile. target is stored as given.
func (r *Root) Symlink(target, name string, uid, gid int) error {
	dir, base, err := r.parent(name, true)
	if err != nil {
		return err
	}
	defer dir.Close()
	if base == "." {
		return errors.New("the image root is a directory")
	}
	return replaceAt(dir, base, func(dfd int, tmp string) error {
		if err := unix.Symlinkat(target, dfd, tmp); err != nil {
			return err
		}
		return setOwnerMode(dfd, tmp, uid, gid, noMode, true)
	})
}

// replaceAt runs create on a fresh temporary name in dir, then renames it
// to base and syncs dir; the temporary name is removed on failure.
func replaceAt(dir *os.File, base string, create func(dfd int, tmp string) error) error {
	dfd := int(dir.Fd())
	var tmp string
	for {
		tmp = fmt.Sprintf(".builder-%016x.tmp", rand.Uint64())
		err := create(dfd, tmp)
		if err == unix.EEXIST {
			continue
		}
		if err == nil {
			err = unix.Renameat(dfd, tmp, dfd, base)
		}
		if err != nil {
			_ = unix.Unlinkat(dfd, tmp, 0) // best effort: the write already failed
			return err
		}
		return dir.Sync()
	}
}

// Lchown sets the owner of name inside the root, not following a symlink
// at name.
func (r *Root) Lchown(name string, uid, gid int) error {
	return r.at(name, func(dfd int, base string) error { return setOwnerMode(dfd, base, uid, gid, noMode, true) })
}

// Chmod sets the permission bits of name inside the root; a symlink at
// name is an error rather than followed.
func (r *Root) Chmod(name string, mode uint32) error {
	return r.at(name, func(dfd int, base string) error { return chmodAt(dfd, base, mode) })
}

func (r *Root) at(name string, op func(dfd int, base string) error) error {
	dir, base, err := r.parent(name, false)
	if err != nil {
		return err
	}
	defer dir.Close()
	return op(int(dir.Fd()), base)
}

// RemoveAll removes name and everything below it. Nothing is followed: a
// symlink is removed as a link, and directories are opened one level at a
// time with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS. A mount point on the way
// or below (a proc or bind mount left in the image) stops the removal
// with an error instead of deleting another file system's files, which
// could be the host's. A missing name gives an error satisfying
// errors.Is(err, fs.ErrNotExist).
func (r *Root) RemoveAll(name string) error {
	parts, err := splitPath(name)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return errors.New("refusing to remove the image root")
	}
	dir, err := r.openDirResolve(parts[:len(parts)-1], unix.RESOLVE_NO_XDEV)
	if err != nil {
		return err
	}
	defer dir.Close()
	return removeAt(dir, parts[len(parts)-1], display(parts))
}

func removeAt(dir *os.File, base, shown string) error {
	dfd := int(dir.Fd())
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("lstat %s: %w", shown, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := unix.Unlinkat(dfd, base, 0); err != nil && err != unix.ENOENT {
			return fmt.Errorf("removing %s: %w", shown, err)
		}
		return nil
	}
	fd, err := unix.Openat2(dfd, base, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err == unix.EXDEV {
		return fmt.Errorf("refusing to remove %s: it is a mount point", shown)
	}
	if err != nil {
		return fmt.Errorf("opening %s: %w", shown, err)
	}
	sub := os.NewFile(uintptr(fd), base)
	defer sub.Close()
	names, err := sub.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("listing %s: %w", shown, err)
	}
	for _, n := range names {
		if err := removeAt(sub, n, path.Join(shown, n)); err != nil {
			return err
		}
	}
	if err := unix.Unlinkat(dfd, base, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		return fmt.Errorf("removing %s: %w", shown, err)
	}
	return nil
}

// noMode tells setOwnerMode to leave the mode alone (symlinks have none).
const noMode = ^uint32(0)

// setOwnerMode sets base's owner (when chown is true) and then its mode,
// in that order because chown clears setuid and setgid bits. Nothing is
// followed. An owner already right is not set again, so unprivileged
// callers can still write files they own.
func setOwnerMode(dfd int, base string, uid, gid int, mode uint32, chown bool) error {
	if chown {
		var st unix.Stat_t
		if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if int(st.Uid) != uid || int(st.Gid) != gid {
			if err := unix.Fchownat(dfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return fmt.Errorf("chown %s to %d:%d: %w", base, uid, gid, err)
			}
		}
	}
	if mode == noMode {
		return nil
	}
	return chmodAt(dfd, base, mode)
}

// chmodAt sets the mode of base without following it: fchmodat2 with
// AT_SYMLINK_NOFOLLOW (Linux 6.6), or on older kernels an O_PATH handle
// checked not to be a symlink and changed through /proc/self/fd.
func chmodAt(dfd int, base string, mode uint32) error {
	err := unix.Fchmodat(dfd, base, mode, unix.AT_SYMLINK_NOFOLLOW)
	if err != unix.EOPNOTSUPP && err != unix.ENOSYS {
		if err != nil {
			return fmt.Errorf("chmod %s: %w", base, err)
		}
		return nil
	}
	fd, err := unix.Openat(dfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("chmod %s: %w", base, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("chmod %s: %w", base, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return fmt.Errorf("chmod %s: it is a symbolic link", base)
	}
	if err := unix.Chmod(fmt.Sprintf("/proc/self/fd/%d", fd), mode); err != nil {
		return fmt.Errorf("chmod %s: %w", base, err)
	}
	return nil
}

// readlinkAt reads the symlink base in dfd; an error if it is not one.
func readlinkAt(dfd int, base string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(dfd, base, buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}
