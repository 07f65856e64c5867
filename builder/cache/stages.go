package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/image"
)

// groups are the group names a stage entry may carry.
var groups = []string{GroupBootstrap, GroupPackages, GroupFiles}

// Snapshot is the path of a key's snapshot tarball, for messages; use
// OpenSnapshot to read it.
func (c *Cache) Snapshot(key string) string {
	return filepath.Join(c.Dir, "stages", key+".tar.zst")
}

func snapshotName(key string) string { return "stages/" + key + ".tar.zst" }
func entryName(key string) string    { return "stages/" + key + ".json" }

// checkEntry reads stages/KEY.json and checks it and its snapshot's type
// and size (not its bytes: OpenSnapshot hashes them). A missing entry is
// fs.ErrNotExist, a damaged one a Damage.
func checkEntry(r *os.Root, key string) (Entry, error) {
	name := entryName(key)
	data, err := readRegular(r, name)
	if err != nil {
		return Entry{}, err
	}
	var e Entry
	problem := ""
	if err := json.Unmarshal(data, &e); err != nil {
		problem = "not a stage entry: " + err.Error()
	} else if e.Key != key {
		problem = fmt.Sprintf("its key %q is not the one in its name", e.Key)
	} else if !slices.Contains(groups, e.Group) {
		problem = fmt.Sprintf("%q is not a stage group", e.Group)
	} else if e.Parent != "" && !validKey(e.Parent) {
		problem = fmt.Sprintf("its parent %q is not a key", e.Parent)
	} else if e.Size < 0 {
		problem = fmt.Sprintf("its size %d is negative", e.Size)
	} else {
		problem = checkSHA256(e.SHA256)
	}
	if problem != "" {
		return Entry{}, Damage{Entry: name, Problem: problem}
	}
	snap := snapshotName(key)
	st, err := r.Lstat(snap)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Entry{}, Damage{Entry: name, Problem: "its snapshot is missing"}
	case err != nil:
		return Entry{}, Damage{Entry: snap, Problem: err.Error()}
	case !st.Mode().IsRegular():
		return Entry{}, Damage{Entry: snap, Problem: kindOf(st.Mode()) + ", not a regular file"}
	case st.Size() != e.Size:
		return Entry{}, Damage{Entry: snap, Problem: fmt.Sprintf("%d bytes, not the recorded %d", st.Size(), e.Size)}
	}
	return e, nil
}

// lockEntries holds the lock under which a stage entry's two files
// change together (Commit, Remove) and are looked at together, so that
// two builds storing one key, or a build looking while another stores,
// never see one build's snapshot with the other's entry, which would be
// damage. Holds are short: no hashing happens under it.
func (c *Cache) lockEntries(r *os.Root, how int) (func(), error) {
	f, err := c.openLock(r, "entries.lock")
	if err != nil {
		return nil, fmt.Errorf("locking the cache's entries: %w", err)
	}
	if err := flockWait(context.Background(), f, how); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the cache's entries: %w", err)
	}
	return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// Lookup returns the entry for key when its snapshot is complete. A hit
// is marked used (its entry file's time), which prune goes by. A damaged
// entry is removed and reported, and misses.
func (c *Cache) Lookup(key string) (Entry, bool) {
	if !validKey(key) {
		return Entry{}, false
	}
	r, err := c.open()
	if err != nil {
		return Entry{}, false // a cache that cannot be read is a miss
	}
	defer r.Close()
	unlock, err := c.lockEntries(r, unix.LOCK_EX)
	if err != nil {
		return Entry{}, false
	}
	defer unlock()
	e, err := checkEntry(r, key)
	if err != nil {
		c.dropStage(r, key, err)
		return Entry{}, false
	}
	now := time.Now()
	_ = r.Chtimes(entryName(key), now, now)
	return e, true
}

// dropStage removes and reports a stage entry that failed a check; a
// missing one is only a miss.
func (c *Cache) dropStage(r *os.Root, key string, err error) {
	var d Damage
	if !errors.As(err, &d) {
		return
	}
	if removeStage(r, key) == nil {
		c.report(d)
	}
}

// OpenSnapshot opens key's snapshot for a restore once its bytes have
// the sha256 recorded when it was stored. Any problem is a Damage the
// caller drops the entry for (Remove).
func (c *Cache) OpenSnapshot(key string) (*os.File, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("opening snapshot %q: not a key", key)
	}
	r, err := c.open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	e, f, err := c.openEntry(r, key)
	if err != nil {
		return nil, err
	}
	// The open file is the snapshot the entry was read with, whatever
	// is renamed over its name meanwhile: a stored file never changes.
	sum, _, err := hashFile(f)
	if err != nil {
		f.Close()
		return nil, Damage{Entry: snapshotName(key), Problem: err.Error()}
	}
	if sum != e.SHA256 {
		f.Close()
		return nil, Damage{Entry: snapshotName(key), Problem: fmt.Sprintf("its sha256 is %s, not the recorded %s", sum, e.SHA256)}
	}
	return f, nil
}

// openEntry reads a stage entry and opens its snapshot, together.
func (c *Cache) openEntry(r *os.Root, key string) (Entry, *os.File, error) {
	unlock, err := c.lockEntries(r, unix.LOCK_SH)
	if err != nil {
		return Entry{}, nil, err
	}
	defer unlock()
	e, err := checkEntry(r, key)
	if err != nil {
		return Entry{}, nil, err
	}
	f, _, err := openRegular(r, snapshotName(key))
	if err != nil {
		return Entry{}, nil, err
	}
	return e, f, nil
}

// TempFile creates a file in the cache's tmp directory, on the same
// filesystem as the entries, for writing before Commit renames it.
func (c *Cache) TempFile(pattern string) (*os.File, error) {
	r, err := c.open()
	if err != nil {
		return nil, fmt.Errorf("writing to the cache: %w", err)
	}
	defer r.Close()
	f, _, err := createTemp(r, pattern)
	if err != nil {
		return nil, fmt.Errorf("writing to the cache %s: %w", c.Dir, err)
	}
	return f, nil
}

// tmpName is a TempFile's name relative to the cache directory.
func (c *Cache) tmpName(path string) (string, error) {
	rel, err := filepath.Rel(c.Dir, path)
	if err != nil || filepath.Dir(rel) != "tmp" {
		return "", fmt.Errorf("%s is not a temporary file of the cache %s", path, c.Dir)
	}
	return rel, nil
}

// Commit puts a written snapshot (a file from TempFile, closed) in place
// for e.Key, then its entry with the snapshot's size and sha256: a
// reader sees both or neither.
func (c *Cache) Commit(tmpPath string, e Entry) error {
	if !validKey(e.Key) {
		return fmt.Errorf("storing a snapshot under %q: not a key", e.Key)
	}
	tmp, err := c.tmpName(tmpPath)
	if err != nil {
		return err
	}
	r, err := c.open()
	if err != nil {
		return err
	}
	defer r.Close()
	f, _, err := openRegular(r, tmp)
	if err != nil {
		return fmt.Errorf("storing snapshot %s: %w", image.Short(e.Key), err)
	}
	e.SHA256, e.Size, err = hashFile(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("storing snapshot %s: %w", image.Short(e.Key), err)
	}
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	unlock, err := c.lockEntries(r, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	if old, err := checkEntry(r, e.Key); err == nil && !e.BuildStarted.IsZero() && !old.Created.Before(e.BuildStarted) {
		// A concurrent build stored the same inputs first: its
		// snapshot stays, so the chain's times keep their order.
		if err := r.Remove(tmp); err != nil {
			return fmt.Errorf("storing snapshot %s: %w", image.Short(e.Key), err)
		}
		return nil
	}
	if err := c.replaceWith(r, tmp, snapshotName(e.Key)); err != nil {
		return fmt.Errorf("storing snapshot %s: %w", image.Short(e.Key), err)
	}
	return c.writeEntry(r, entryName(e.Key), data)
}

// writeEntry writes data to name (relative to the cache) under a
// temporary name, then renames it into place.
func (c *Cache) writeEntry(r *os.Root, name string, data []byte) error {
	f, tmp, err := createTemp(r, ".entry-*")
	if err != nil {
		return fmt.Errorf("writing %s in %s: %w", name, c.Dir, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = c.replaceWith(r, tmp, name)
	}
	if err != nil {
		_ = r.Remove(tmp)
		return fmt.Errorf("writing %s in %s: %w", name, c.Dir, err)
	}
	return nil
}

// writeAtomic is writeEntry for a path under the cache directory
// (the history's).
func writeAtomic(c *Cache, path string, data []byte) error {
	rel, err := filepath.Rel(c.Dir, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("writing %s: not in the cache %s", path, c.Dir)
	}
	r, err := c.open()
	if err != nil {
		return err
	}
	defer r.Close()
	return c.writeEntry(r, rel, data)
}

// Remove deletes a stage entry, its entry file first so that no reader
// takes a snapshot about to vanish.
func (c *Cache) Remove(key string) error {
	if !validKey(key) {
		return fmt.Errorf("removing snapshot %q: not a key", key)
	}
	r, err := c.open()
	if err != nil {
		return err
	}
	defer r.Close()
	unlock, err := c.lockEntries(r, unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	return removeStage(r, key)
}

// removeStage removes both files of a stage entry, as links if they are
// links: Remove never follows the last component.
func removeStage(r *os.Root, key string) error {
	for _, name := range []string{entryName(key), snapshotName(key)} {
		if err := r.RemoveAll(name); err != nil {
			return fmt.Errorf("removing %s: %w", name, err)
		}
	}
	return nil
}
