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
//	workdirs/ID          where a running build's work directory is, for prune
//	apt/archives/        apt's downloads, bind-mounted into package steps
//	tmp/                 files being written; renamed into place
//	lock                 flock: shared while a build uses the cache,
//	                     exclusive while prune deletes
//	entries.lock         flock: held while a stage entry's two files
//	                     are written, removed or read together
//
// Two builds may share a cache: entries are written under temporary
// names and renamed, the same key always holds the same content, and
// apt's downloads are used by one package step at a time.
//
// Everything read back from the directory is untrusted (see confine.go):
// names are checked before a path is built from them, every operation is
// confined to the directory, snapshots and packed files are checked
// against the sha256 recorded when they were stored, and a damaged entry
// is reported, removed and built without.
//
// Snapshots are tarballs rather than overlayfs lower directories: a
// tarball is one file, renamed into place atomically, restored by the
// same confined extractor as tarball bootstraps, and leaves the build
// tree an ordinary directory for packing; measured on the Debian recipe
// (docs/benchmarks.md) writing and restoring one costs seconds.
package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultDir is where builds keep their cache unless --cache-dir says.
const DefaultDir = "/var/cache/builder"

// Cache is an open cache directory.
type Cache struct {
	Dir string
	// Report, when set, hears of each damaged entry the cache found and
	// removed, once: the next look finds it gone.
	Report func(Damage)
}

// Open creates the cache directory and, when missing, its layout. A
// layout found damaged is left for the first operation to repair, so
// that it is reported through Report, which the caller sets after Open.
func Open(dir string) (*Cache, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("cache directory %s: %w", dir, err)
	}
	// Only root's: snapshots hold whole images, and package steps write
	// the shared apt downloads (a setuid file a maintainer script left
	// there must not be reachable by the host's users).
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("creating the cache in %s: %w", abs, err)
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("opening the cache %s: %w", abs, err)
	}
	defer r.Close()
	for _, sub := range layout {
		if err := r.Mkdir(sub, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			break // a damaged parent: repaired by open
		}
	}
	return &Cache{Dir: abs}, nil
}

// Lock takes the cache's lock, shared (a build) or exclusive (prune),
// waiting until ctx ends; the returned function releases it.
func (c *Cache) Lock(ctx context.Context, exclusive bool) (func(), error) {
	// Only the lock file is looked at: callers set Report after taking
	// the lock, and the layout's damage is for them to hear of.
	r, err := os.OpenRoot(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("locking the cache: %w", err)
	}
	defer r.Close()
	f, err := c.openLock(r, "lock")
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
	r, err := c.open()
	if err != nil {
		return nil, fmt.Errorf("locking the package cache: %w", err)
	}
	defer r.Close()
	f, err := c.openLock(r, "apt/lock")
	if err != nil {
		return nil, fmt.Errorf("locking the package cache: %w", err)
	}
	if err := flockWait(ctx, f, unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the package cache: %w", err)
	}
	return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// openLock opens (creating) a lock file inside the cache; anything but
// a regular file there is damage, replaced.
func (c *Cache) openLock(r *os.Root, name string) (*os.File, error) {
	if st, err := r.Lstat(name); err == nil && !st.Mode().IsRegular() {
		if err := r.RemoveAll(name); err != nil {
			return nil, fmt.Errorf("removing the damaged cache entry %s: %w", name, err)
		}
		c.report(Damage{Entry: name, Problem: kindOf(st.Mode()) + ", not a regular file"})
	}
	return r.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
}

// AptArchives is the shared download directory for apt. Its layout was
// checked by AptLock, which package steps take before binding it.
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
	// SHA256 is the snapshot's, recorded by Commit and checked before
	// a restore.
	SHA256 string  `json:"sha256"`
	Inputs []Input `json:"inputs"`
	// BuildStarted, when set, is when the build storing the entry
	// started: Commit keeps an entry of the same key stored since then,
	// by a build running at the same time, so that builds sharing the
	// cache never leave a group's snapshot older than the one it was
	// built on (which Usable would take for a stale chain).
	BuildStarted time.Time `json:"-"`
}

// Usable finds the longest prefix of points whose snapshots can be used:
// each present, none older than the one before it (a snapshot made on a
// bootstrap since rebuilt is stale even though its key is the same),
// the bootstrap younger than the policy's TTL (0: any age), none stored
// before its Since. It returns the index of the last usable point (-1:
// none), the entries up to it, and why the next one is not usable (""
// when it is simply missing).
func (c *Cache) Usable(points []Point, policy Policy) (int, []Entry, string) {
	var entries []Entry
	ttl := policy.TTL
	for i, p := range points {
		e, ok := c.Lookup(p.Key)
		if !ok {
			return i - 1, entries, ""
		}
		if age := time.Since(e.Created); i == 0 && ttl > 0 && age > ttl {
			return i - 1, entries, fmt.Sprintf("the bootstrap snapshot is %s old, more than --cache-ttl %s", age.Round(time.Hour), ttl)
		}
		if e.Created.Before(policy.Since) {
			return i - 1, entries, fmt.Sprintf("--no-cache: the %s snapshot was stored before this build", p.Name())
		}
		if i > 0 && e.Created.Before(entries[i-1].Created) {
			return i - 1, entries, fmt.Sprintf("the %s snapshot predates the %s one it would build on", p.Name(), points[i-1].Name())
		}
		entries = append(entries, e)
	}
	return len(points) - 1, entries, ""
}
