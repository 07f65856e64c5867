package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/internal/dirlock"
)

// An output directory is replaced whole. A new image is written into a
// staging directory beside it (.NAME.builder-staging-XXXX, on the same
// filesystem) and swapped with it in one rename (RENAME_EXCHANGE), then
// the previous image is removed: at every instant the output directory
// holds the complete previous image or the complete new one, and a
// build killed at any point leaves at most a staging directory, which
// the next build writing the same output removes.
//
// A directory the user made for the output keeps its owner and mode,
// and a symlink given as the output stays one: the directory it points
// to is what is replaced. An output directory that holds anything but an
// image (files builder did not write, subdirectories) is refused rather
// than replaced: replacing it would delete them. An output directory
// that is a mount point cannot be renamed; its files are then replaced
// one by one, image.json removed first and written last, so that its
// presence still says the image is complete.

// stagingMark is in the name of every staging directory: beside the
// output as ".NAME" + stagingMark + random, inside an output that is a
// mount point as stagingMark + random.
const stagingMark = ".builder-staging-"

// Staging is a new image being written, to be put in place of an output
// directory by Commit or removed by Discard.
type Staging struct {
	// Dir is where the image's files are written.
	Dir string
	// Output is the output directory, symlinks resolved.
	Output string
	out    outputDir
	lock   *dirlock.Dir
	done   bool
}

// outputDir is what a build found at its output path.
type outputDir struct {
	path   string // absolute, symlinks resolved
	exists bool
	// mountRoot: a mount point, which no rename can move.
	mountRoot bool
}

// CheckOutput checks that output can take a new image (see Staging),
// returning a *ForeignOutputError when it holds more than an image, and
// removes the staging directories builds that were killed left for it;
// warn hears of a leftover that could not be removed, which does not
// stop a build. names are the files the new image will have: they may
// already be there, from an interrupted older builder. Builds call it
// before building anything, so a refused output costs no build time.
func CheckOutput(output string, names []string, warn func(error)) error {
	_, err := prepareOutput(output, names, warn)
	return err
}

// StageOutput checks output as CheckOutput does and makes the staging
// directory of a new image with the files names; the caller writes them
// into Staging.Dir and then calls Commit, or Discard.
func StageOutput(output string, names []string, warn func(error)) (*Staging, error) {
	out, err := prepareOutput(output, names, warn)
	if err != nil {
		return nil, err
	}
	parent, pattern := filepath.Dir(out.path), "."+filepath.Base(out.path)+stagingMark
	if out.mountRoot {
		parent, pattern = out.path, stagingMark
	}
	// Held until Commit or Discard: a build sweeping leftovers leaves
	// this one alone while it is being written.
	lock, err := dirlock.MkdirTemp(parent, pattern)
	if err != nil {
		return nil, fmt.Errorf("staging the new image of %s: %w", output, err)
	}
	return &Staging{Dir: lock.Path, Output: out.path, out: out, lock: lock}, nil
}

// prepareOutput resolves output, refuses it when a new image cannot
// replace it, and sweeps the leftovers of killed builds.
func prepareOutput(output string, names []string, warn func(error)) (outputDir, error) {
	out, err := resolveOutput(output)
	if err != nil {
		return outputDir{}, err
	}
	if err := sweepStaging(out); err != nil && warn != nil {
		warn(err)
	}
	if !out.exists {
		return out, nil
	}
	others, err := foreignEntries(out.path, names)
	if err != nil {
		return outputDir{}, err
	}
	if len(others) > 0 {
		shown := others
		if len(shown) > 3 {
			shown = append(slices.Clone(shown[:3]), fmt.Sprintf("and %d more", len(others)-3))
		}
		return outputDir{}, &ForeignOutputError{Dir: out.path, Names: others,
			msg: fmt.Sprintf("%s holds %s, which builder did not write: a new image replaces the whole directory; move them away or give another --output", out.path, strings.Join(shown, ", "))}
	}
	return out, nil
}

// ForeignOutputError is an output directory holding files builder did
// not write, which replacing it would delete.
type ForeignOutputError struct {
	Dir   string
	Names []string
	msg   string
}

func (e *ForeignOutputError) Error() string { return e.msg }

// resolveOutput finds what output names: a symlink is followed to the
// directory it points to; the parent of a missing output is created.
func resolveOutput(output string) (outputDir, error) {
	abs, err := filepath.Abs(output)
	if err != nil {
		return outputDir{}, fmt.Errorf("resolving %s: %w", output, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if errors.Is(err, fs.ErrNotExist) {
		if st, lerr := os.Lstat(abs); lerr == nil && st.Mode()&fs.ModeSymlink != 0 {
			return outputDir{}, fmt.Errorf("output %s is a symlink to a missing directory", abs)
		}
		parent := filepath.Dir(abs)
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return outputDir{}, fmt.Errorf("creating %s: %w", parent, err)
		}
		realParent, err := filepath.EvalSymlinks(parent)
		if err != nil {
			return outputDir{}, fmt.Errorf("resolving %s: %w", parent, err)
		}
		return outputDir{path: filepath.Join(realParent, filepath.Base(abs))}, nil
	}
	if err != nil {
		return outputDir{}, fmt.Errorf("resolving %s: %w", abs, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return outputDir{}, fmt.Errorf("output %s: %w", real, err)
	}
	if !st.IsDir() {
		return outputDir{}, fmt.Errorf("output %s is not a directory", real)
	}
	if real == "/" {
		return outputDir{}, errors.New("the output directory cannot be /")
	}
	mount, err := isMountRoot(real)
	if err != nil {
		return outputDir{}, err
	}
	return outputDir{path: real, exists: true, mountRoot: mount}, nil
}

// isMountRoot says whether dir is the root of a mount (statx's
// STATX_ATTR_MOUNT_ROOT; on kernels older than 5.8, a device that
// differs from its parent's).
func isMountRoot(dir string) (bool, error) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, dir, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &stx); err != nil {
		return false, fmt.Errorf("output %s: %w", dir, err)
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 {
		return stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
	}
	var parent unix.Stat_t
	if err := unix.Stat(filepath.Dir(dir), &parent); err != nil {
		return false, fmt.Errorf("output %s: %w", dir, err)
	}
	return unix.Mkdev(stx.Dev_major, stx.Dev_minor) != parent.Dev, nil
}

// foreignEntries lists what in an existing output directory a new image
// must not replace: anything but the files of an image (image.json,
// SHA256SUMS, the files its image.json or the new image name) and the
// leftovers of writing them.
func foreignEntries(dir string, names []string) ([]string, error) {
	known := imageNames(dir, names)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the output directory %s: %w", dir, err)
	}
	var others []string
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir() && (strings.HasPrefix(name, stagingMark) || strings.HasPrefix(name, scratchMark)):
			// A live build's staging or scratch, in an output that is
			// a mount.
		case e.Type().IsRegular() && (known[name] || isLeftover(name, known)):
		default:
			others = append(others, name)
		}
	}
	return others, nil
}

// imageNames are the names of an image's files in dir: image.json,
// SHA256SUMS, the SBOM, extra, and the files dir's image.json lists. That
// image.json is read leniently (only the names, each a bare name): one
// a newer builder wrote, with fields this one does not know, still says
// which files are the image's.
func imageNames(dir string, extra []string) map[string]bool {
	known := map[string]bool{ImageJSONName: true, SHA256SUMSName: true, SBOMName: true}
	for _, n := range extra {
		known[n] = true
	}
	f, err := os.Open(filepath.Join(dir, ImageJSONName))
	if err != nil {
		return known
	}
	defer f.Close()
	var listed struct {
		Files []struct {
			Name string `json:"name"`
		} `json:"files"`
	}
	// Real ones are kilobytes; the package list is the bulk.
	if err := json.NewDecoder(io.LimitReader(f, 64<<20)).Decode(&listed); err != nil {
		return known
	}
	for _, file := range listed.Files {
		if checkBareName(file.Name) == nil {
			known[file.Name] = true
		}
	}
	return known
}

// isLeftover says whether name is a temporary file builder writes an
// image file under (".NAME.tmp-123", or ".rootfs.squashfs.tmp" for
// mksquashfs), left by a build an older builder could not clean up.
func isLeftover(name string, known map[string]bool) bool {
	rest, ok := strings.CutPrefix(name, ".")
	if !ok {
		return false
	}
	i := strings.LastIndex(rest, ".tmp")
	if i <= 0 {
		return false
	}
	if suffix := rest[i+len(".tmp"):]; suffix != "" {
		digits, ok := strings.CutPrefix(suffix, "-")
		if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" {
			return false
		}
	}
	inner := rest[:i]
	return known[inner] || strings.HasPrefix(inner, "lxd.tar") || strings.HasPrefix(inner, "rootfs.") || strings.Contains(inner, ".tar")
}

// sweepStaging removes the staging and scratch directories of out whose
// build is gone: beside it, and inside it when it is a mount point.
func sweepStaging(out outputDir) error {
	var errs []error
	sweep := func(dir, prefix string) {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("looking for leftovers of killed builds in %s: %w", dir, err))
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			var err error
			switch name := e.Name(); {
			case strings.HasPrefix(name, prefix+stagingMark):
				err = removeStaging(filepath.Join(dir, name))
			case strings.HasPrefix(name, prefix+scratchMark):
				err = sweepScratch(filepath.Join(dir, name))
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	sweep(filepath.Dir(out.path), "."+filepath.Base(out.path))
	if out.exists && out.mountRoot {
		sweep(out.path, "")
	}
	return errors.Join(errs...)
}

// removeStaging removes a staging directory unless its build still
// holds it. It holds only files builder wrote: the ones of a new image
// being written, or of the previous image it replaced.
func removeStaging(path string) error {
	d, held, err := dirlock.TryLock(path)
	switch {
	case held, errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("removing a killed build's staging directory: %w", err)
	}
	defer d.Unlock()
	return removeFiles(d, nil)
}

// removeFiles removes the regular files of the locked directory d, each
// through its descriptor so that only the locked directory is touched,
// then d itself. When keep is set, only the files it accepts are
// removed; anything else stays, and so does d, and they are returned.
func removeFiles(d *dirlock.Dir, keep func(name string) bool) error {
	f := d.File()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("removing %s: %w", d.Path, err)
	}
	var kept []string
	for _, name := range names {
		if keep != nil && keep(name) {
			kept = append(kept, name)
			continue
		}
		err := unix.Unlinkat(int(f.Fd()), name, 0)
		switch {
		case err == nil, errors.Is(err, unix.ENOENT):
		case errors.Is(err, unix.EISDIR), errors.Is(err, unix.EPERM):
			// builder writes no directory there: not its to remove.
			kept = append(kept, name)
		default:
			return fmt.Errorf("removing %s: %w", filepath.Join(d.Path, name), err)
		}
	}
	if len(kept) > 0 {
		return &keptError{dir: d.Path, names: kept}
	}
	if err := unix.Rmdir(d.Path); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing %s: %w", d.Path, err)
	}
	return nil
}

// keptError is a directory builder emptied of its own files only.
type keptError struct {
	dir   string
	names []string
}

func (e *keptError) Error() string {
	return fmt.Sprintf("%s holds %s, which builder did not write; left it there", e.dir, strings.Join(e.names, ", "))
}
