package confined

// The file, copy and remove steps. Each opens the rootfs as a Root, so
// every path, including the names of a copied tree, is resolved inside
// the image and a symlink in the image never leads to the host.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// Ownership is a mode with an owner and group, names resolved inside the
// rootfs when the file is written.
type Ownership struct {
	Mode         uint32
	Owner, Group string
}

// File is what WriteFile writes: Content, or the host file Source, at
// Path with Ownership.
type File struct {
	Path, Content, Source string
	Ownership             Ownership
}

// Copy is what CopyIn copies: the host file or tree Source to Path, with
// Ownership when set.
type Copy struct {
	Path, Source string
	Ownership    *Ownership
}

// WriteFile carries out a file step: f.Content, or the host file
// f.Source, becomes f.Path in the rootfs with f.Ownership's mode, owner
// and group (names resolved in the image). Missing parents are created
// as root:root 0755; an existing file is replaced atomically, and a
// symlink at f.Path is replaced by the file rather than written through.
func WriteFile(root string, f File) (err error) {
	defer wrapErr(&err, "writing %s", f.Path)
	if err := checkStepPath(f.Path); err != nil {
		return err
	}
	r, err := OpenRoot(root)
	if err != nil {
		return err
	}
	defer closeInto(r, &err)
	uid, gid, err := lookupOwner(r, f.Ownership.Owner, f.Ownership.Group)
	if err != nil {
		return err
	}
	var content io.Reader = strings.NewReader(f.Content)
	if f.Source != "" {
		src, err := os.Open(f.Source)
		if err != nil {
			return err
		}
		defer closeInto(src, &err)
		content = src
	}
	return r.WriteFile(f.Path, content, Attrs{UID: uid, GID: gid, Mode: f.Ownership.Mode & 0o7777})
}

// CopyIn carries out a copy step. A host file becomes exactly c.Path
// (replaced atomically; a directory there is an error). A host directory
// is copied like `cp -a src/. dst/`: its contents are merged into c.Path,
// which is created if missing. Regular files, directories and symlinks
// (as symlinks, never followed) are copied; anything else is an error.
//
// Without c.Ownership everything copied belongs to root and keeps the
// source's permission bits; its owner and group apply to everything.
// With a mode (non-zero), files get c.Ownership.Mode and
// directories that mode plus an execute bit wherever it grants read
// (0644 gives 0755, 0640 gives 0750), so a directory stays traversable by
// whoever may read the files in it; owner and group apply to all.
//
// Directories that already exist in the image keep their own mode and
// owner: copying an overlay onto /etc must not chmod /etc itself. An
// existing symlink to a directory is followed inside the image (like
// rsync --keep-dirlinks), so an overlay with lib/ lands in usr/lib of a
// merged-/usr image.
func CopyIn(root string, c Copy) (err error) {
	defer wrapErr(&err, "copying %s to %s", c.Source, c.Path)
	if err := checkStepPath(c.Path); err != nil {
		return err
	}
	r, err := OpenRoot(root)
	if err != nil {
		return err
	}
	defer closeInto(r, &err)
	cp := &copier{root: r}
	if o := c.Ownership; o != nil {
		if cp.uid, cp.gid, err = lookupOwner(r, o.Owner, o.Group); err != nil {
			return err
		}
		cp.fixed, cp.mode = o.Mode != 0, o.Mode&0o7777
	}
	// The top is followed, as validation follows it: the recipe named
	// it. Below it, WalkDir and copier.file never follow a symlink, so
	// resolve it once here, for a linked file as for a linked directory.
	src, err := filepath.EvalSymlinks(c.Source)
	if err != nil {
		return err
	}
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return cp.node(src, c.Path, st) // a file; anything else is refused
	}
	rootInfo, err := r.dir.Stat()
	if err != nil {
		return err
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := checkNotRoot(p, d, rootInfo); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		dst := path.Join(c.Path, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := cp.node(p, dst, info); err != nil {
			return fmt.Errorf("%s: %w", dst, err)
		}
		return nil
	})
}

// copier copies host nodes into a root with the step's ownership rule.
type copier struct {
	root     *Root
	uid, gid int
	fixed    bool   // the recipe set a mode: it applies to everything
	mode     uint32 // files; directories get dirMode(mode)
}

func (c *copier) node(src, dst string, info fs.FileInfo) error {
	switch {
	case info.IsDir():
		return c.dir(dst, info)
	case info.Mode().IsRegular():
		return c.file(src, dst, info)
	case info.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return c.root.Symlink(target, dst, c.uid, c.gid)
	}
	return fmt.Errorf("the source %s is a %s; only files, directories and symlinks are copied", src, typeName(info.Mode()))
}

func (c *copier) file(src, dst string, info fs.FileInfo) (err error) {
	f, err := os.OpenFile(src, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer closeInto(f, &err)
	mode := permBits(info)
	if c.fixed {
		mode = c.mode
	}
	return c.root.WriteFile(dst, f, Attrs{UID: c.uid, GID: c.gid, Mode: mode})
}

// dir makes dst a directory; only one the copy creates gets the source's
// (or the rule's) mode and the owner, for the reason CopyIn gives.
func (c *copier) dir(dst string, info fs.FileInfo) error {
	if _, err := c.root.Lstat(dst); err == nil {
		d, err := c.root.MkdirAll(dst) // exists: follow it inside the image
		if err != nil {
			return err
		}
		return d.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	d, err := c.root.MkdirAll(dst)
	if err != nil {
		return err
	}
	mode := permBits(info)
	if c.fixed {
		mode = dirMode(c.mode)
	}
	dfd := int(d.Fd())
	return errors.Join(setOwnerMode(dfd, ".", c.uid, c.gid, mode, true), d.Close())
}

// checkNotRoot refuses to walk into the image root itself: a source
// holding the build directory (a recipe copying ".") would otherwise copy
// the image into itself until path names grow too long.
func checkNotRoot(p string, d fs.DirEntry, root fs.FileInfo) error {
	if !d.IsDir() {
		return nil
	}
	info, err := d.Info()
	if err != nil {
		return err
	}
	if os.SameFile(info, root) {
		return fmt.Errorf("the source contains the image root at %s", p)
	}
	return nil
}

// dirMode adds an execute bit wherever mode grants read.
func dirMode(mode uint32) uint32 { return mode | (mode&0o444)>>2 }

// permBits returns a host file's permission bits with setuid, setgid
// and sticky in their unix positions.
func permBits(info fs.FileInfo) uint32 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Mode & 0o7777
	}
	return uint32(info.Mode().Perm())
}

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return "special file"
}

// Remove carries out a remove step: name and everything below it go, a
// symlink is removed as a link, and nothing below is followed (see
// Root.RemoveAll). A missing name is an error unless missingOK.
func Remove(root, name string, missingOK bool) (err error) {
	defer wrapErr(&err, "removing %s", name)
	if err := checkStepPath(name); err != nil {
		return err
	}
	r, err := OpenRoot(root)
	if err != nil {
		return err
	}
	defer closeInto(r, &err)
	err = r.RemoveAll(name)
	if missingOK && errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// checkStepPath repeats the recipe's rule for target paths, since a Plan
// can be built without the decoder: absolute, no "..", not the root.
func checkStepPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%q is not an absolute path inside the image", p)
	}
	parts, err := splitPath(p)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return errors.New("the path names the image root")
	}
	return nil
}

// wrapErr prefixes a non-nil *err with what was being done.
func wrapErr(err *error, format string, args ...any) {
	if *err != nil {
		*err = fmt.Errorf(format+": %w", append(args, *err)...)
	}
}

// closeInto closes c and joins its error into *err, so no Close error is
// dropped.
func closeInto(c io.Closer, err *error) {
	if cerr := c.Close(); cerr != nil {
		*err = errors.Join(*err, cerr)
	}
}
