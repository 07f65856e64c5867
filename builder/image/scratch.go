package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/builder-images/builder/internal/dirlock"
)

// scratchMark is in the name of every scratch directory, made beside a
// staging directory as ".NAME" + scratchMark + random (inside an output
// that is a mount point as scratchMark + random).
const scratchMark = ".builder-scratch-"

// ScratchDir makes a directory for an output kind's temporary files
// beside the staging directory: on the same filesystem as the image,
// which has room for what it is made from (a VM's raw disk is as large
// as the disk), and not in /tmp, often a small tmpfs. It is locked as a
// staging directory is; remove removes it whole. A build killed before
// remove leaves it to the next build writing the same output, which
// sweeps it with the staging directories.
func (s *Staging) ScratchDir() (dir string, remove func() error, err error) {
	parent, pattern := filepath.Dir(s.Output), "."+filepath.Base(s.Output)+scratchMark
	if s.out.mountRoot {
		parent, pattern = s.Output, scratchMark
	}
	lock, err := dirlock.MkdirTemp(parent, pattern)
	if err != nil {
		return "", nil, fmt.Errorf("making scratch space for the image of %s: %w", s.Output, err)
	}
	return lock.Path, func() error { return removeScratch(lock) }, nil
}

// removeScratch removes a scratch directory whose lock d is, with all it
// holds (builder made every file there), then drops the lock.
func removeScratch(d *dirlock.Dir) error {
	err := os.RemoveAll(d.Path)
	if err != nil {
		err = fmt.Errorf("removing scratch directory %s: %w", d.Path, err)
	}
	return errors.Join(err, d.Unlock())
}

// sweepScratch removes the scratch directory path unless its build still
// holds it.
func sweepScratch(path string) error {
	d, held, err := dirlock.TryLock(path)
	switch {
	case held, errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("removing a killed build's scratch directory: %w", err)
	}
	return removeScratch(d)
}
