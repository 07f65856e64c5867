package build

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/isolation"
	"github.com/builder-images/builder/internal/dirlock"
)

// WorkDirPrefix starts the name of every work directory 'builder build'
// makes, beside the output or in --work-dir.
const WorkDirPrefix = ".builder-work-"

// keptMark is the file a work directory kept for inspection holds: no
// sweep removes it; its owner does, when done looking.
const keptMark = "kept"

// WorkDir is a build's private work directory, which this process owns
// (see dirlock) until Remove or Keep: a build killed with kill -9 leaves
// it without an owner, and RemoveStaleWorkDirs then removes it.
type WorkDir struct {
	Path string
	lock *dirlock.Dir
}

// NewWorkDir makes a work directory in parent, mode 0700: the image's
// setuid programs must not be reachable by other users of the build host
// while it is built.
func NewWorkDir(parent string) (*WorkDir, error) {
	lock, err := dirlock.MkdirTemp(parent, WorkDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("creating a work directory: %w", err)
	}
	return &WorkDir{Path: lock.Path, lock: lock}, nil
}

// Remove removes the work directory after proving nothing is mounted
// below it (RemoveTree).
func (w *WorkDir) Remove() error {
	err := isolation.RemoveTree(w.Path)
	return errors.Join(err, w.lock.Unlock())
}

// Keep leaves the work directory for inspection: marked, so that no
// later build or prune takes it for a killed build's.
func (w *WorkDir) Keep() error {
	mark := filepath.Join(w.Path, keptMark)
	err := os.WriteFile(mark, []byte("kept for inspection by builder (--keep-on-error or --on-error=abort); remove this directory when done\n"), 0o644)
	if err != nil {
		err = fmt.Errorf("marking %s as kept: %w", w.Path, err)
	}
	return errors.Join(err, w.lock.Unlock())
}

// RemoveStaleWorkDirs removes the work directories in parent that no
// build owns any more (see RemoveStaleWorkDir) and returns them.
func RemoveStaleWorkDirs(parent string) ([]string, error) {
	entries, err := os.ReadDir(parent)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking for the work directories of killed builds in %s: %w", parent, err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), WorkDirPrefix) {
			continue
		}
		path := filepath.Join(parent, e.Name())
		ok, err := RemoveStaleWorkDir(path, false)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			removed = append(removed, path)
		}
	}
	return removed, errors.Join(errs...)
}

// RemoveStaleWorkDir removes the work directory path when it is stale: a
// directory named as builder names them, root's and private as builder
// makes them, not kept for inspection, and owned by no live build (its
// lock can be taken). Like every removal of a build directory it first
// proves that nothing is mounted below it. dryRun only reports whether
// it would. A path that is not a stale work directory is left alone and
// is no error.
func RemoveStaleWorkDir(path string, dryRun bool) (removed bool, err error) {
	if !strings.HasPrefix(filepath.Base(path), WorkDirPrefix) || !filepath.IsAbs(path) {
		return false, nil
	}
	d, held, err := dirlock.TryLock(path)
	switch {
	case held, errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.ELOOP):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("checking the work directory %s: %w", path, err)
	}
	defer func() { err = errors.Join(err, d.Unlock()) }()
	st, err := d.File().Stat()
	if err != nil {
		return false, fmt.Errorf("checking the work directory %s: %w", path, err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || sys.Uid != 0 || st.Mode().Perm() != 0o700 {
		return false, nil
	}
	if _, err := os.Lstat(filepath.Join(path, keptMark)); !errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if dryRun {
		return true, nil
	}
	if err := isolation.RemoveTree(path); err != nil {
		return false, fmt.Errorf("removing the work directory of a killed build: %w", err)
	}
	return true, nil
}

// newWorkDir removes the work directories builds killed in parent left
// (kill -9 gives a build no chance to), then makes this build's, owned by
// this process and recorded in the cache, if any, for 'builder cache
// prune' to find should this build be killed too.
func newWorkDir(parent string, c *cache.Cache, sink events.Sink) (*WorkDir, error) {
	removed, err := RemoveStaleWorkDirs(parent)
	for _, dir := range removed {
		sink.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cleanup", Line: "removed " + dir + ", the work directory of a build that was killed"})
	}
	if err != nil {
		// Another build's mess does not stop this one.
		sink.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cleanup", Line: "warning: " + err.Error()})
	}
	work, err := NewWorkDir(parent)
	if err != nil {
		return nil, err
	}
	if c != nil {
		if err := c.RecordWorkDir(work.Path); err != nil {
			sink.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cache", Line: "warning: " + err.Error() + "; cache prune will not find it"})
		}
	}
	return work, nil
}

// PruneWorkDirs removes the work directories c records whose builds were
// killed, and forgets those that are gone; dryRun only says which it
// would remove. A recorded path is untrusted: only a stale work
// directory there is removed (see RemoveStaleWorkDir).
func PruneWorkDirs(c *cache.Cache, dryRun bool) (removed []string, err error) {
	dirs, err := c.WorkDirs()
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, dir := range dirs {
		ok, err := RemoveStaleWorkDir(dir, dryRun)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			removed = append(removed, dir)
		}
		if _, statErr := os.Lstat(dir); !dryRun && errors.Is(statErr, fs.ErrNotExist) {
			errs = append(errs, c.ForgetWorkDir(dir))
		}
	}
	return removed, errors.Join(errs...)
}
