package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/image"
)

// Item is one cache entry as ls and prune see it: a stage snapshot, a
// packed rootfs or apt's downloads, healthy or damaged.
type Item struct {
	Kind     string    `json:"kind"` // "stage", "pack" or "packages" (apt's downloads)
	Key      string    `json:"key"`
	Group    string    `json:"group"`
	Image    string    `json:"image,omitempty"`
	Recipe   string    `json:"recipe,omitempty"`
	Size     int64     `json:"size"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"`
	// Status is "ok", or "damaged": Entry names the damaged file or
	// directory (relative to the cache directory), Problem what is
	// wrong with it. Prune removes a damaged entry whatever its age.
	Status  string `json:"status"`
	Entry   string `json:"entry,omitempty"`
	Problem string `json:"problem,omitempty"`
	// remove is what removing the item deletes, in order, relative to
	// the cache directory: never a path built from a name in a file.
	remove []string
}

// Item statuses.
const (
	StatusOK      = "ok"
	StatusDamaged = "damaged"
)

// Items lists every entry, most recently used first, damaged ones with
// what is wrong with them. It removes nothing.
func (c *Cache) Items() ([]Item, error) {
	r, err := c.open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	unlock, err := c.lockEntries(r, unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return c.scan(r)
}

func damagedItem(kind, key string, d Damage, remove ...string) Item {
	return Item{Kind: kind, Key: key, Status: StatusDamaged, Entry: d.Entry, Problem: d.Problem, remove: remove}
}

func (c *Cache) scan(r *os.Root) ([]Item, error) {
	var items []Item
	stages, err := readDir(r, "stages")
	if err != nil {
		return nil, err
	}
	for _, name := range stages {
		if k, ok := strings.CutSuffix(name, ".tar.zst"); ok && validKey(k) {
			continue // listed with its entry; alone, being stored
		}
		key, ok := strings.CutSuffix(name, ".json")
		if !ok || !validKey(key) {
			items = append(items, damagedItem("stage", "", Damage{Entry: "stages/" + shown(name), Problem: "not a file builder writes"}, "stages/"+name))
			continue
		}
		e, err := checkEntry(r, key)
		var d Damage
		switch {
		case errors.As(err, &d):
			items = append(items, damagedItem("stage", key, d, entryName(key), snapshotName(key)))
		case err == nil:
			items = append(items, Item{Kind: "stage", Key: key, Group: e.Group, Image: e.Image, Recipe: e.Recipe,
				Size: e.Size, Created: e.Created, LastUsed: modTime(r, entryName(key)), Status: StatusOK,
				remove: []string{entryName(key), snapshotName(key)}})
		} // else removed meanwhile
	}
	packs, err := readDir(r, "packs")
	if err != nil {
		return nil, err
	}
	for _, name := range packs {
		if !validKey(name) {
			items = append(items, damagedItem("pack", "", Damage{Entry: "packs/" + shown(name), Problem: "its name is not a key"}, "packs/"+name))
			continue
		}
		e, err := checkPack(r, name)
		var d Damage
		switch {
		case errors.As(err, &d):
			items = append(items, damagedItem("pack", name, d, packDir(name)))
		case err == nil:
			items = append(items, Item{Kind: "pack", Key: name, Group: "pack", Image: e.Image, Size: e.File.Size,
				Created: e.Created, LastUsed: modTime(r, packDir(name)+"/pack.json"), Status: StatusOK,
				remove: []string{packDir(name) + "/pack.json", packDir(name)}})
		}
	}
	if apt := aptItem(r); apt.Size > 0 {
		items = append(items, apt)
	}
	slices.SortStableFunc(items, func(a, b Item) int { return b.LastUsed.Compare(a.LastUsed) })
	return items, nil
}

// readDir lists the names in a directory of the cache.
func readDir(r *os.Root, dir string) ([]string, error) {
	f, err := r.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("listing the cache's %s: %w", dir, err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("listing the cache's %s: %w", dir, err)
	}
	return names, nil
}

// modTime is when a file of the cache was last written or touched: an
// entry's last use.
func modTime(r *os.Root, name string) time.Time {
	st, err := r.Lstat(name)
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// aptDebs are the regular *.deb files among apt's downloads, by name.
func aptDebs(r *os.Root) map[string]fs.FileInfo {
	names, _ := readDir(r, "apt/archives")
	debs := map[string]fs.FileInfo{}
	for _, n := range names {
		if !strings.HasSuffix(n, ".deb") {
			continue
		}
		if st, err := r.Lstat("apt/archives/" + n); err == nil && st.Mode().IsRegular() {
			debs[n] = st
		}
	}
	return debs
}

// aptItem is apt's shared downloads as one entry: its size, and the time
// of the newest download as its last use.
func aptItem(r *os.Root) Item {
	it := Item{Kind: "packages", Key: "apt-archives", Group: "apt", Status: StatusOK}
	for _, st := range aptDebs(r) {
		it.Size += st.Size()
		if st.ModTime().After(it.LastUsed) {
			it.LastUsed = st.ModTime()
		}
	}
	it.Created = it.LastUsed
	return it
}

// removeItem deletes an item's files; apt's downloads are fetched again.
func removeItem(r *os.Root, it Item) error {
	if it.Kind == "packages" {
		for n := range aptDebs(r) {
			if err := r.Remove("apt/archives/" + n); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	}
	for _, name := range it.remove {
		if err := r.RemoveAll(name); err != nil {
			return err
		}
	}
	return nil
}

// PruneOptions say what to remove: entries unused for longer than
// OlderThan (0: none by age; negative: all), then the least recently
// used until the cache holds at most MaxSize bytes (0: no limit). DryRun
// removes nothing.
type PruneOptions struct {
	OlderThan time.Duration
	MaxSize   int64
	DryRun    bool
	Now       time.Time
}

// Prune removes damaged entries and then the ones opts select, under
// the cache's exclusive lock, so no build is using the cache meanwhile,
// and clears leftovers of interrupted writes. It returns what it removed
// (or would remove). Every removal stays inside the cache directory.
func (c *Cache) Prune(ctx context.Context, opts PruneOptions) ([]Item, error) {
	unlock, err := c.Lock(ctx, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	r, err := c.open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	items, err := c.scan(r)
	if err != nil {
		return nil, err
	}
	var removed []Item
	drop := func(it Item) error {
		if !opts.DryRun {
			if err := removeItem(r, it); err != nil {
				what := it.Entry
				if what == "" {
					what = it.Kind + " " + image.Short(it.Key)
				}
				return fmt.Errorf("removing %s from the cache %s: %w", what, c.Dir, err)
			}
		}
		removed = append(removed, it)
		return nil
	}
	var total int64
	for _, it := range items {
		if it.Status == StatusDamaged {
			if err := drop(it); err != nil {
				return removed, err
			}
			continue
		}
		total += it.Size
	}
	// Least recently used last in items: walk from the end.
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		old := opts.OlderThan != 0 && opts.Now.Sub(it.LastUsed) > opts.OlderThan
		big := opts.MaxSize > 0 && total > opts.MaxSize
		if it.Status == StatusDamaged || !old && !big {
			continue
		}
		if err := drop(it); err != nil {
			return removed, err
		}
		total -= it.Size
	}
	if !opts.DryRun {
		clearLeftovers(r)
	}
	return removed, nil
}

// clearLeftovers removes what only an interrupted write leaves: files in
// tmp/ and a snapshot without its entry. No build is writing while prune
// holds the lock.
func clearLeftovers(r *os.Root) {
	tmp, _ := readDir(r, "tmp")
	for _, name := range tmp {
		_ = r.RemoveAll("tmp/" + name)
	}
	stages, _ := readDir(r, "stages")
	for _, name := range stages {
		if key, ok := strings.CutSuffix(name, ".tar.zst"); ok && validKey(key) {
			if _, err := r.Lstat(entryName(key)); errors.Is(err, fs.ErrNotExist) {
				_ = r.RemoveAll("stages/" + name)
			}
		}
	}
}
