// Package cache is builder's stage cache: snapshots of the rootfs after
// each group of steps, keyed by the sha256 of everything that went into
// them (see Points), the packed rootfs files of finished builds, and the
// package downloads shared by builds.
//
// Layout of the cache directory:
//
//	stages/KEY.tar.zst   the rootfs after a group (our tar writer, zstd-1)
//	stages/KEY.json      its Entry; written last, so present = complete
//	packs/KEY/           a packed rootfs file and its PackEntry
//	history/ID.json      the last build's points, per recipe
//	apt/archives/        apt's downloads, bind-mounted into package steps
//	tmp/                 files being written; renamed into place
//	lock                 flock: shared while a build uses the cache,
//	                     exclusive while prune deletes
//
// Two builds may share a cache: entries are written under temporary
// names and renamed, the same key always holds the same content, and
// apt's downloads are used by one package step at a time.
//
// Snapshots are tarballs rather than overlayfs lower directories: a
// tarball is one file, renamed into place atomically, restored by the
// same confined extractor as tarball bootstraps, and leaves the build
// tree an ordinary directory for packing; measured on the Debian recipe
// (docs/benchmarks.md) writing and restoring one costs seconds.
package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/image"
)

// DefaultDir is where builds keep their cache unless --cache-dir says.
const DefaultDir = "/var/cache/builder"

// Cache is an open cache directory.
type Cache struct {
	Dir string
}

// Open creates the cache's layout under dir when missing.
func Open(dir string) (*Cache, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("cache directory %s: %w", dir, err)
	}
	for _, sub := range []string{"stages", "packs", "history", "tmp", filepath.Join("apt", "archives", "partial")} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o755); err != nil {
			return nil, fmt.Errorf("creating the cache in %s: %w", abs, err)
		}
	}
	return &Cache{Dir: abs}, nil
}

// Lock takes the cache's lock, shared (a build) or exclusive (prune),
// waiting until ctx ends; the returned function releases it.
func (c *Cache) Lock(ctx context.Context, exclusive bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(c.Dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking the cache: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := flockWait(ctx, f, how); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the cache %s: %w", c.Dir, err)
	}
	return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// AptLock serialises package steps that share apt's download directory:
// apt locks it and would fail, not wait, if another build held it.
func (c *Cache) AptLock(ctx context.Context) (func(), error) {
	f, err := os.OpenFile(filepath.Join(c.Dir, "apt", "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking the package cache: %w", err)
	}
	if err := flockWait(ctx, f, unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the package cache: %w", err)
	}
	return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// AptArchives is the shared download directory for apt.
func (c *Cache) AptArchives() string { return filepath.Join(c.Dir, "apt", "archives") }

func flockWait(ctx context.Context, f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Entry describes a stage snapshot.
type Entry struct {
	Key     string    `json:"key"`
	Group   string    `json:"group"`
	Parent  string    `json:"parent,omitempty"`
	Recipe  string    `json:"recipe"`
	Image   string    `json:"image"`
	Created time.Time `json:"created"`
	Size    int64     `json:"size"`
	Inputs  []Input   `json:"inputs"`
}

// Snapshot is the path of a key's snapshot tarball.
func (c *Cache) Snapshot(key string) string {
	return filepath.Join(c.Dir, "stages", key+".tar.zst")
}

func (c *Cache) entryPath(key string) string {
	return filepath.Join(c.Dir, "stages", key+".json")
}

// Lookup returns the entry for key when its snapshot is complete. A hit
// is marked used (its entry file's time), which prune goes by.
func (c *Cache) Lookup(key string) (Entry, bool) {
	var e Entry
	data, err := os.ReadFile(c.entryPath(key))
	if err != nil || json.Unmarshal(data, &e) != nil || e.Key != key {
		return Entry{}, false
	}
	if st, err := os.Stat(c.Snapshot(key)); err != nil || st.Size() != e.Size {
		return Entry{}, false
	}
	now := time.Now()
	_ = os.Chtimes(c.entryPath(key), now, now)
	return e, true
}

// TempFile creates a file in the cache's tmp directory, on the same
// filesystem as the entries, for writing before Commit renames it.
func (c *Cache) TempFile(pattern string) (*os.File, error) {
	f, err := os.CreateTemp(filepath.Join(c.Dir, "tmp"), pattern)
	if err != nil {
		return nil, fmt.Errorf("writing to the cache: %w", err)
	}
	return f, nil
}

// Commit puts a written snapshot (a file from TempFile, closed) in place
// for e.Key, then its entry: a reader sees both or neither.
func (c *Cache) Commit(tmpPath string, e Entry) error {
	st, err := os.Stat(tmpPath)
	if err != nil {
		return fmt.Errorf("storing snapshot %s: %w", image.Short(e.Key), err)
	}
	e.Size = st.Size()
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := os.Rename(tmpPath, c.Snapshot(e.Key)); err != nil {
		return fmt.Errorf("storing snapshot %s: %w", image.Short(e.Key), err)
	}
	return writeAtomic(c, c.entryPath(e.Key), data)
}

func writeAtomic(c *Cache, path string, data []byte) error {
	f, err := c.TempFile(".entry-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// Entries lists the complete stage snapshots.
func (c *Cache) Entries() ([]Entry, error) {
	matches, err := filepath.Glob(filepath.Join(c.Dir, "stages", "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, m := range matches {
		var e Entry
		data, err := os.ReadFile(m)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // pruned meanwhile
			}
			return nil, err
		}
		if json.Unmarshal(data, &e) == nil && e.Key != "" {
			out = append(out, e)
		}
	}
	return out, nil
}

// LastUsed is when an entry was last created or hit.
func (c *Cache) LastUsed(key string) time.Time {
	st, err := os.Stat(c.entryPath(key))
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// Remove deletes a stage entry, its entry file first so that no reader
// takes a snapshot about to vanish.
func (c *Cache) Remove(key string) error {
	err := os.Remove(c.entryPath(key))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	err = os.Remove(c.Snapshot(key))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Usable finds the longest prefix of points whose snapshots can be used:
// each present, none older than the one before it (a snapshot made on a
// bootstrap since rebuilt is stale even though its key is the same),
// the bootstrap younger than ttl (0: any age). It returns the index of
// the last usable point (-1: none), the entries up to it, and why the
// next one is not usable ("" when it is simply missing).
func (c *Cache) Usable(points []Point, ttl time.Duration) (int, []Entry, string) {
	var entries []Entry
	for i, p := range points {
		e, ok := c.Lookup(p.Key)
		if !ok {
			return i - 1, entries, ""
		}
		if age := time.Since(e.Created); i == 0 && ttl > 0 && age > ttl {
			return i - 1, entries, fmt.Sprintf("the bootstrap snapshot is %s old, more than --cache-ttl %s", age.Round(time.Hour), ttl)
		}
		if i > 0 && e.Created.Before(entries[i-1].Created) {
			return i - 1, entries, fmt.Sprintf("the %s snapshot predates the %s one it would build on", p.Group, points[i-1].Group)
		}
		entries = append(entries, e)
	}
	return len(points) - 1, entries, ""
}
