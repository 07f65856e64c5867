package cache

// Everything under the cache directory is untrusted input: CI systems
// restore caches from shared artifacts, so whoever can write one can
// write any name, key, size or symlink into it. Hence:
//
//   - no path is built from a name read back from the cache (a key in an
//     entry, a file name in pack.json, a directory entry) before the name
//     is checked: keys are 64 lowercase hex digits, pack files one of the
//     names builder writes;
//   - every file operation goes through an os.Root on the cache
//     directory, whose resolution the kernel keeps inside it whatever a
//     symlink says, and an entry's last component is never followed
//     (Lstat, unlinkat, renameat);
//   - a symlink, or anything but a directory or a regular file where
//     builder writes one, is damage, as is an entry whose fields do not
//     check out or whose bytes do not have the sha256 recorded when it
//     was stored: it is reported once through Cache.Report, removed (the
//     link, not what it points to) and the build goes on without it.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/builder-images/builder/builder/pack"
)

// layout is the cache's directories, each parent before its children so
// that a repaired parent is what the child is checked in.
var layout = []string{"stages", "packs", "history", "workdirs", "tmp", "apt", "apt/archives", "apt/archives/partial"}

// maxEntrySize bounds the JSON files read back: a planted multi-gigabyte
// pack.json must not exhaust memory. Real ones are kilobytes.
const maxEntrySize = 16 << 20

// Damage is a cache entry that failed a check.
type Damage struct {
	// Entry is the damaged file or directory relative to the cache
	// directory: "packs/KEY", "stages/KEY.tar.zst", "tmp".
	Entry string
	// Problem says what is wrong with it.
	Problem string
}

func (d Damage) Error() string { return "damaged cache entry " + d.Entry + ": " + d.Problem }

// open opens the cache directory as a Root and puts its layout right: a
// missing directory is made; anything else in a directory's place (a
// symlink to /etc, a file) is damage, removed, reported and replaced.
func (c *Cache) open() (*os.Root, error) {
	r, err := os.OpenRoot(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("opening the cache %s: %w", c.Dir, err)
	}
	for _, sub := range layout {
		st, err := r.Lstat(sub)
		switch {
		case err == nil && st.IsDir():
			continue
		case err == nil:
			if err := r.RemoveAll(sub); err != nil {
				r.Close()
				return nil, fmt.Errorf("removing the damaged cache entry %s in %s: %w", sub, c.Dir, err)
			}
			c.report(Damage{Entry: sub, Problem: kindOf(st.Mode()) + " where the cache keeps a directory"})
		case !errors.Is(err, fs.ErrNotExist):
			r.Close()
			return nil, fmt.Errorf("checking the cache %s: %w", c.Dir, err)
		}
		if err := r.Mkdir(sub, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			r.Close()
			return nil, fmt.Errorf("creating the cache in %s: %w", c.Dir, err)
		}
	}
	return r, nil
}

func (c *Cache) report(d Damage) {
	if c.Report != nil {
		c.Report(d)
	}
}

// validKey says whether s has the shape of every key builder makes: a
// hex sha256. Nothing else may become part of a path.
func validKey(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// packDiskName is the one name a VM image's disk is kept under, as Pack
// writes it.
const packDiskName = "disk.qcow2"

// packFileNames are the only names a packed file is kept under: the
// ones Pack writes for a split image's rootfs, and a VM image's disk.
func packFileNames() []string {
	names := []string{"rootfs.squashfs", packDiskName}
	for _, a := range pack.AlgorithmNames() {
		if c, err := pack.ParseCompression(a); err == nil {
			names = append(names, "rootfs.tar"+c.Algorithm.Extension)
		}
	}
	return names
}

// shown quotes a name read from the cache when it holds anything a
// terminal might act on.
func shown(name string) string {
	for _, r := range name {
		if !strconv.IsPrint(r) || r == '"' {
			return strconv.Quote(name)
		}
	}
	return name
}

func kindOf(m fs.FileMode) string {
	switch m.Type() {
	case fs.ModeSymlink:
		return "a symlink"
	case fs.ModeDir:
		return "a directory"
	case 0:
		return "a regular file"
	default:
		return "a special file (" + m.Type().String() + ")"
	}
}

// openRegular opens name, which must be a regular file itself and not a
// symlink to one: a problem with it comes back as Damage; a missing file
// as fs.ErrNotExist.
func openRegular(r *os.Root, name string) (*os.File, fs.FileInfo, error) {
	st, err := r.Lstat(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
		return nil, nil, Damage{Entry: name, Problem: err.Error()}
	}
	if !st.Mode().IsRegular() {
		return nil, nil, Damage{Entry: name, Problem: kindOf(st.Mode()) + ", not a regular file"}
	}
	f, err := r.Open(name)
	if err != nil {
		return nil, nil, Damage{Entry: name, Problem: err.Error()}
	}
	// Swapped for something else between the two looks: whatever it is
	// now was resolved inside the cache, but it is not what was checked.
	fst, err := f.Stat()
	if err != nil || !os.SameFile(st, fst) {
		f.Close()
		return nil, nil, Damage{Entry: name, Problem: "it changed while being opened"}
	}
	return f, fst, nil
}

// readRegular reads a small regular file (an entry's JSON).
func readRegular(r *os.Root, name string) ([]byte, error) {
	f, _, err := openRegular(r, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxEntrySize+1))
	if err != nil {
		return nil, Damage{Entry: name, Problem: err.Error()}
	}
	if len(data) > maxEntrySize {
		return nil, Damage{Entry: name, Problem: fmt.Sprintf("larger than %d bytes", maxEntrySize)}
	}
	return data, nil
}

// checkSHA256 is a recorded sha256's problem, or "".
func checkSHA256(s string) string {
	if s == "" {
		return "no sha256 recorded (stored by an older builder)"
	}
	if _, err := hex.DecodeString(s); err != nil || len(s) != 64 || strings.ToLower(s) != s {
		return fmt.Sprintf("the recorded sha256 %q is not one", s)
	}
	return ""
}

// hashFile is the sha256 and size of f's bytes from its start, leaving
// f at its start again.
func hashFile(f *os.File) (string, int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", 0, err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// tempName is a fresh name in tmp/ after pattern's last "*", as
// os.CreateTemp spells them.
func tempName(pattern string) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	prefix, suffix, ok := strings.Cut(pattern, "*")
	if !ok {
		suffix = ""
	}
	return "tmp/" + prefix + hex.EncodeToString(b[:]) + suffix
}

// createTemp creates a new file in tmp/ and returns it with its name
// relative to the cache directory.
func createTemp(r *os.Root, pattern string) (*os.File, string, error) {
	for range 100 {
		name := tempName(pattern)
		f, err := r.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", fmt.Errorf("no free temporary name for %s", pattern)
}

// replaceWith renames tmp (relative to the cache) over dst, first
// removing what is at dst when it is not a regular file: a directory
// planted there would make the rename fail, a symlink is replaced by the
// rename itself but is damage all the same.
func (c *Cache) replaceWith(r *os.Root, tmp, dst string) error {
	if st, err := r.Lstat(dst); err == nil && !st.Mode().IsRegular() {
		if err := r.RemoveAll(dst); err != nil {
			return fmt.Errorf("removing the damaged cache entry %s: %w", dst, err)
		}
		c.report(Damage{Entry: dst, Problem: kindOf(st.Mode()) + ", not a regular file"})
	}
	return r.Rename(tmp, dst)
}
