package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/internal/dirlock"
)

// Commit puts the staged image in place of the output directory and
// removes the previous image. It returns an error only when the new
// image is not in place; warn hears of what went wrong afterwards (the
// previous image could not be removed whole), which a build reports
// but does not fail for.
func (s *Staging) Commit(warn func(error)) error {
	if s.done {
		return fmt.Errorf("the staging directory of %s was already committed or discarded", s.Output)
	}
	if _, err := os.Lstat(filepath.Join(s.Dir, ImageJSONName)); err != nil {
		return fmt.Errorf("putting the new image in %s: it has no %s: %w", s.Output, ImageJSONName, err)
	}
	if s.out.mountRoot {
		return s.commitInPlace(warn)
	}
	if err := syncDir(s.Dir); err != nil {
		return fmt.Errorf("putting the new image in %s: %w", s.Output, err)
	}
	if err := s.lookLikeOutput(); err != nil {
		return err
	}
	exchanged, err := swapInto(s.Dir, s.Output)
	if errors.Is(err, unix.EINVAL) {
		// A filesystem without RENAME_EXCHANGE (NFS, some FUSE):
		// file by file, as for a mount point.
		return s.commitInPlace(warn)
	}
	if err != nil {
		return fmt.Errorf("putting the new image in %s: %w", s.Output, err)
	}
	s.done = true
	// The lock was on the new image's directory, now the output, where
	// no sweep looks. What s.Dir names now is the previous output.
	report(warn, s.lock.Unlock())
	if err := syncDir(filepath.Dir(s.Output)); err != nil {
		report(warn, fmt.Errorf("the new image is in %s, but making that last through a crash failed: %w", s.Output, err))
	}
	if exchanged {
		report(warn, removePrevious(s.Dir, s.Output))
	}
	return nil
}

// Discard removes the staging directory and what was written in it; it
// does nothing after Commit.
func (s *Staging) Discard() error {
	if s.done {
		return nil
	}
	s.done = true
	err := removeFiles(s.lock, nil)
	return errors.Join(err, s.lock.Unlock())
}

func report(warn func(error), err error) {
	if err != nil && warn != nil {
		warn(err)
	}
}

// lookLikeOutput gives the staging directory the mode and owner of the
// output directory it replaces (0755 and root's for a new one): a
// directory a user made keeps what they gave it. Until now it was 0700,
// so no one saw a half-written image.
func (s *Staging) lookLikeOutput() error {
	mode, uid, gid := os.FileMode(0o755), -1, -1
	if st, err := os.Stat(s.Output); err == nil {
		mode = st.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(sys.Uid), int(sys.Gid)
		}
	}
	if err := os.Lchown(s.Dir, uid, gid); err != nil {
		return fmt.Errorf("putting the new image in %s: %w", s.Output, err)
	}
	// After chown, which clears the setuid and setgid bits.
	if err := os.Chmod(s.Dir, mode); err != nil {
		return fmt.Errorf("putting the new image in %s: %w", s.Output, err)
	}
	return nil
}

// swapInto puts the directory staging at output in one rename: an
// exchange with the output directory, or a plain rename where there is
// none. exchanged says whether staging now names the previous output.
func swapInto(staging, output string) (exchanged bool, err error) {
	// Another build writing the same output may create it or replace it
	// between two attempts: each attempt is atomic, and the last build
	// to swap is the one whose image stays.
	for range 5 {
		err := unix.Renameat2(unix.AT_FDCWD, staging, unix.AT_FDCWD, output, unix.RENAME_EXCHANGE)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, unix.ENOENT) {
			return false, err
		}
		err = unix.Renameat2(unix.AT_FDCWD, staging, unix.AT_FDCWD, output, unix.RENAME_NOREPLACE)
		if err == nil {
			return false, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return false, err
		}
	}
	return false, errors.New("another process kept creating and removing it")
}

// removePrevious removes the previous image, swapped out to dir. Files
// builder did not write (put there during the build) stay, in a
// directory renamed beside the output so no sweep removes them.
func removePrevious(dir, output string) error {
	d, held, err := dirlock.TryLock(dir)
	switch {
	case held:
		return nil // another build's staging swept it up; it will remove it
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("removing the previous image of %s: %w", output, err)
	}
	defer d.Unlock()
	known := imageNames(dir, nil)
	err = removeFiles(d, func(name string) bool { return !known[name] && !isLeftover(name, known) })
	var kept *keptError
	if !errors.As(err, &kept) {
		if err != nil {
			return fmt.Errorf("removing the previous image of %s: %w", output, err)
		}
		return nil
	}
	keep := output + ".previous-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := unix.Renameat2(unix.AT_FDCWD, dir, unix.AT_FDCWD, keep, unix.RENAME_NOREPLACE); err != nil {
		return fmt.Errorf("the previous output of %s held %s, which builder did not write; they are in %s (%w)", output, strings.Join(kept.names, ", "), dir, err)
	}
	return fmt.Errorf("the previous output of %s held %s, which builder did not write; they are in %s", output, strings.Join(kept.names, ", "), keep)
}

// commitInPlace replaces the files of an output directory that cannot
// be renamed, one by one. image.json goes first and comes back last:
// while it is missing the directory says it holds no complete image,
// and when it is there the files it lists are complete.
func (s *Staging) commitInPlace(warn func(error)) error {
	// Two builds committing to the same output take turns.
	outLock, err := dirlock.Lock(s.Output)
	if err != nil {
		return fmt.Errorf("putting the new image in %s: %w", s.Output, err)
	}
	defer outLock.Unlock()
	out, staged := int(outLock.File().Fd()), int(s.lock.File().Fd())
	fail := func(err error) error { return fmt.Errorf("putting the new image in %s: %w", s.Output, err) }
	names, err := s.lock.File().Readdirnames(-1)
	if err != nil {
		return fail(err)
	}
	fresh := map[string]bool{}
	for _, n := range names {
		fresh[n] = true
	}
	previous := imageNames(s.Output, nil)
	for _, name := range []string{ImageJSONName, SHA256SUMSName} {
		if err := unix.Unlinkat(out, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return fail(err)
		}
		if err := syncDir(s.Output); err != nil {
			return fail(err)
		}
	}
	s.done = true // from here on, the staging directory is no longer whole
	entries, err := os.ReadDir(s.Output)
	if err != nil {
		return fail(err)
	}
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && !fresh[n] && (previous[n] || isLeftover(n, previous)) {
			if err := unix.Unlinkat(out, n, 0); err != nil && !errors.Is(err, unix.ENOENT) {
				return fail(err)
			}
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		// The image's files, then SHA256SUMS, then image.json.
		rank := func(n string) int {
			switch n {
			case SHA256SUMSName:
				return 1
			case ImageJSONName:
				return 2
			}
			return 0
		}
		return rank(a) - rank(b)
	})
	for _, n := range names {
		if n == ImageJSONName {
			if err := syncDir(s.Output); err != nil {
				return fail(err)
			}
		}
		if err := unix.Renameat(staged, n, out, n); err != nil {
			return fail(fmt.Errorf("moving %s: %w", n, err))
		}
	}
	if err := syncDir(s.Output); err != nil {
		report(warn, fmt.Errorf("the new image is in %s, but making that last through a crash failed: %w", s.Output, err))
	}
	report(warn, removeFiles(s.lock, nil))
	report(warn, s.lock.Unlock())
	return nil
}
