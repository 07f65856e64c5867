package confined

import (
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Rename renames oldName to newName inside the root; both must be in the
// same directory, which is all the chroot needs (setting a file aside).
func (r *Root) Rename(oldName, newName string) error {
	if path.Dir(path.Clean("/"+oldName)) != path.Dir(path.Clean("/"+newName)) {
		return fmt.Errorf("renaming %s to %s: not in one directory", oldName, newName)
	}
	dir, base, err := r.parent(oldName, false)
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := unix.Renameat(int(dir.Fd()), base, int(dir.Fd()), path.Base(newName)); err != nil {
		return fmt.Errorf("renaming %s to %s in the image: %w", oldName, newName, err)
	}
	return nil
}

// Stat describes name inside the root, following symlinks inside the
// image. The file is opened with O_PATH only, so no device is opened.
func (r *Root) Stat(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	parts, err := splitPath(name)
	if err != nil {
		return st, err
	}
	f, err := r.openat2(strings.Join(parts, "/"), unix.O_PATH, 0)
	if err != nil {
		return st, fmt.Errorf("%s in the image: %w", display(parts), err)
	}
	defer f.Close()
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return st, fmt.Errorf("%s in the image: %w", display(parts), err)
	}
	return st, nil
}

// LookPath finds an executable in the image as the chroot's PATH would,
// so a chrooted command runs the image's program, never the host's.
func (r *Root) LookPath(name, pathList string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range strings.Split(pathList, ":") {
		p := path.Join(dir, name)
		st, err := r.Stat(p)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not installed in the image (searched %s)", name, pathList)
}
