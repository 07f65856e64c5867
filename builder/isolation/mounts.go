// Package isolation keeps a build's commands away from the build host:
// the namespaces the rootfs stage runs in (namespace.go, RunIsolated),
// the sandbox helper every command of the image runs through
// (sandbox.go) and the host view of build-side tools (sandbox_tool.go),
// the chroot's mounts (chroot.go), the command Runner (exec.go) and the
// tmpfs sizes (tmpfs.go).
//
// Start with mounts.go: every recursive removal under a build directory
// first proves from /proc/self/mountinfo that nothing is mounted below it,
// so a leftover bind mount can never turn a cleanup into a deletion of the
// host's files.
package isolation

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one line of /proc/self/mountinfo (proc(5)).
type Mount struct {
	ID, ParentID int
	// Root is the mounted path within the source filesystem (the bind
	// source for bind mounts); MountPoint is where it is mounted.
	Root, MountPoint string
	FSType, Source   string
}

// ParseMountInfo reads the mountinfo format.
func ParseMountInfo(r io.Reader) ([]Mount, error) {
	var mounts []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		// ID, parent, major:minor, root, mount point, options, optional
		// fields…, "-", fstype, source, super options.
		sep := -1
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 7 || sep < 0 || sep+2 >= len(fields) {
			return nil, fmt.Errorf("mountinfo line %d: malformed: %q", line, sc.Text())
		}
		id, err1 := strconv.Atoi(fields[0])
		parent, err2 := strconv.Atoi(fields[1])
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", line, err)
		}
		mounts = append(mounts, Mount{
			ID: id, ParentID: parent,
			Root:       unescapeMountField(fields[3]),
			MountPoint: unescapeMountField(fields[4]),
			FSType:     unescapeMountField(fields[sep+1]),
			Source:     unescapeMountField(fields[sep+2]),
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading mountinfo: %w", err)
	}
	return mounts, nil
}

// unescapeMountField undoes the kernel's octal escapes (\040 for a space,
// \011 tab, \012 newline, \134 backslash).
func unescapeMountField(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// MountsBelow returns the mounts whose mount point is dir or lies below
// it. dir must be absolute and free of symlinks (see CheckNothingMounted).
func MountsBelow(mounts []Mount, dir string) []Mount {
	dir = filepath.Clean(dir)
	prefix := dir + "/"
	if dir == "/" {
		prefix = "/"
	}
	var below []Mount
	for _, m := range mounts {
		if m.MountPoint == dir || strings.HasPrefix(m.MountPoint, prefix) {
			below = append(below, m)
		}
	}
	return below
}

// MountedError says a directory still has mounts at or below it.
type MountedError struct {
	Dir    string
	Mounts []Mount
}

func (e *MountedError) Error() string {
	points := make([]string, len(e.Mounts))
	for i, m := range e.Mounts {
		points[i] = fmt.Sprintf("%s (%s)", m.MountPoint, m.FSType)
	}
	return fmt.Sprintf("%s has %d mount(s) at or below it: %s; unmount them first", e.Dir, len(e.Mounts), strings.Join(points, ", "))
}

// CheckNothingMounted proves from /proc/self/mountinfo that nothing is
// mounted at or below dir, returning a *MountedError otherwise.
func CheckNothingMounted(dir string) error {
	below, err := mountsBelowDir(dir)
	if err != nil {
		return err
	}
	if len(below) > 0 {
		return &MountedError{Dir: dir, Mounts: below}
	}
	return nil
}

// RemoveTree deletes dir and everything below it, after proving that
// nothing is mounted there. A missing dir is not an error.
func RemoveTree(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := CheckNothingMounted(dir); err != nil {
		return fmt.Errorf("refusing to remove %s: %w", dir, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	return nil
}

// realDir returns dir absolute with symlinks resolved, as mountinfo
// spells mount points.
func realDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", dir, err)
	}
	if real == "/" {
		return "", fmt.Errorf("%s is the root directory; builder never works on it", dir)
	}
	return real, nil
}

// UnmountBelow unmounts everything mounted at or below dir, deepest
// first, then proves nothing is left. The build uses it in its own mount
// namespace for mounts a step made and did not undo.
func UnmountBelow(dir string) error {
	below, err := mountsBelowDir(dir)
	if err != nil {
		return err
	}
	sort.Slice(below, func(i, j int) bool { return len(below[i].MountPoint) > len(below[j].MountPoint) })
	for _, m := range below {
		if err := unix.Unmount(m.MountPoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmounting %s: %w", m.MountPoint, err)
		}
	}
	return CheckNothingMounted(dir)
}

// mountsBelowDir reads the mount table for the mounts at or below dir.
func mountsBelowDir(dir string) ([]Mount, error) {
	real, err := realDir(dir)
	if err != nil {
		return nil, err
	}
	mounts, err := readMountInfo()
	if err != nil {
		return nil, err
	}
	return MountsBelow(mounts, real), nil
}

func readMountInfo() ([]Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading the mount table: %w", err)
	}
	defer f.Close()
	return ParseMountInfo(f)
}
