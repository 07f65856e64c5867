package pack

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// xattrSource reads one file's extended attributes: list fills buf with
// the NUL-separated names, get one value; both follow the syscalls'
// convention that a nil buffer asks for the size.
type xattrSource struct {
	list func(buf []byte) (int, error)
	get  func(name string, buf []byte) (int, error)
}

// fdXattrs reads the attributes of an open file or directory.
func fdXattrs(fd int) xattrSource {
	return xattrSource{
		list: func(buf []byte) (int, error) { return unix.Flistxattr(fd, buf) },
		get:  func(name string, buf []byte) (int, error) { return unix.Fgetxattr(fd, name, buf) },
	}
}

// pathXattrs reads the attributes of a symlink, device or fifo by path,
// without following a final symlink.
func pathXattrs(path string) xattrSource {
	return xattrSource{
		list: func(buf []byte) (int, error) { return unix.Llistxattr(path, buf) },
		get:  func(name string, buf []byte) (int, error) { return unix.Lgetxattr(path, name, buf) },
	}
}

// readXattrs returns the attributes keepXattr keeps, or nil when there
// are none or the filesystem has no xattr support.
func readXattrs(path string, src xattrSource) (map[string]string, error) {
	names, err := readXattrBuf(func(buf []byte) (int, error) { return src.list(buf) })
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing extended attributes of %s: %w", path, err)
	}
	var xattrs map[string]string
	list := strings.Split(strings.TrimSuffix(string(names), "\x00"), "\x00")
	slices.Sort(list)
	for _, name := range list {
		if name == "" || !keepXattr(name) {
			continue
		}
		value, err := readXattrBuf(func(buf []byte) (int, error) { return src.get(name, buf) })
		if errors.Is(err, unix.ENODATA) {
			continue // removed since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("reading extended attribute %s of %s: %w", name, path, err)
		}
		if xattrs == nil {
			xattrs = make(map[string]string)
		}
		xattrs[name] = string(value)
	}
	return xattrs, nil
}

// readXattrBuf calls f with a buffer of the size it asks for, again if
// the attribute grew in between.
func readXattrBuf(f func(buf []byte) (int, error)) ([]byte, error) {
	for range 5 {
		size, err := f(nil)
		if err != nil {
			return nil, err
		}
		if size == 0 {
			return nil, nil
		}
		buf := make([]byte, size)
		n, err := f(buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	return nil, unix.ERANGE
}
