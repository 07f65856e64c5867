// Package dirlock records which process owns a directory builder made
// for the life of one build (a work directory, a staging directory for a
// new image) so that a later build can tell a directory whose owner was
// killed from one still in use, and remove only the first kind.
//
// The owner holds an exclusive flock(2) on the directory itself. The
// kernel drops it when the owner's last descriptor closes, whatever the
// way it dies, kill -9 included, so a lock that can be taken means the
// owner is gone; unlike a recorded PID it cannot be mistaken for a new
// process that reused the number. The descriptor is close-on-exec: a
// program builder starts never holds it, so it cannot keep a dead
// build's directory alive.
package dirlock

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Dir is a directory whose lock this process holds.
type Dir struct {
	Path string
	f    *os.File
}

// MkdirTemp makes a new directory in parent, named as os.MkdirTemp names
// it (pattern with a random part, mode 0700), and holds its lock.
func MkdirTemp(parent, pattern string) (*Dir, error) {
	// Another build sweeping parent may take the lock of a directory
	// made an instant ago and remove it before this process locks it;
	// then the lock taken here is on a removed directory, which the
	// check below finds, and a new one is made.
	for range 10 {
		path, err := os.MkdirTemp(parent, pattern)
		if err != nil {
			return nil, fmt.Errorf("creating a directory in %s: %w", parent, err)
		}
		d, err := lock(path, unix.LOCK_EX)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, errMoved) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return d, nil
	}
	return nil, fmt.Errorf("creating a directory in %s: removed by another process each time", parent)
}

// TryLock takes the lock of the existing directory path when no process
// holds it. held reports that one does (d is then nil). A symlink is
// not followed: it is no directory builder made.
func TryLock(path string) (d *Dir, held bool, err error) {
	d, err = lock(path, unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return nil, true, nil
	}
	return d, false, err
}

// errMoved is a directory that is no longer at the path it was locked
// through.
var errMoved = errors.New("the directory was moved or removed while it was being locked")

// lock opens path as a directory, takes the lock how says and checks
// that path still names the directory locked.
func lock(path string, how int) (*Dir, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	var locked, now unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &locked); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := unix.Lstat(path, &now); err != nil || now.Dev != locked.Dev || now.Ino != locked.Ino {
		f.Close()
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		return nil, fmt.Errorf("locking %s: %w", path, errMoved)
	}
	return &Dir{Path: path, f: f}, nil
}

// File is the open directory the lock is held on: operations through it
// (unlinkat, fstat) act on the locked directory even if its path has
// changed since.
func (d *Dir) File() *os.File { return d.f }

// Unlock releases the lock; the directory stays.
func (d *Dir) Unlock() error {
	if d == nil || d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	if err != nil {
		return fmt.Errorf("unlocking %s: %w", d.Path, err)
	}
	return nil
}

// Lock takes the lock of the existing directory path, waiting while
// another process holds it.
func Lock(path string) (*Dir, error) {
	return lock(path, unix.LOCK_EX)
}
