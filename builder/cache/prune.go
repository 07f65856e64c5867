package cache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/builder-images/builder/builder/image"
)

// Item is one cache entry as ls and prune see it: a stage snapshot or a
// packed rootfs.
type Item struct {
	Kind     string    `json:"kind"` // "stage", "pack" or "packages" (apt's downloads)
	Key      string    `json:"key"`
	Group    string    `json:"group"`
	Image    string    `json:"image,omitempty"`
	Recipe   string    `json:"recipe,omitempty"`
	Size     int64     `json:"size"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"`
}

// Items lists every entry, most recently used first.
func (c *Cache) Items() ([]Item, error) {
	stages, err := c.Entries()
	if err != nil {
		return nil, err
	}
	var items []Item
	for _, e := range stages {
		items = append(items, Item{Kind: "stage", Key: e.Key, Group: e.Group, Image: e.Image, Recipe: e.Recipe,
			Size: e.Size, Created: e.Created, LastUsed: c.LastUsed(e.Key)})
	}
	packs, err := c.Packs()
	if err != nil {
		return nil, err
	}
	for _, p := range packs {
		items = append(items, Item{Kind: "pack", Key: p.Key, Group: "pack", Image: p.Image, Size: p.File.Size,
			Created: p.Created, LastUsed: c.PackLastUsed(p.Key)})
	}
	if apt := c.aptItem(); apt.Size > 0 {
		items = append(items, apt)
	}
	slices.SortFunc(items, func(a, b Item) int { return b.LastUsed.Compare(a.LastUsed) })
	return items, nil
}

// aptItem is apt's shared downloads as one entry: its size, and the time
// of the newest download as its last use.
func (c *Cache) aptItem() Item {
	it := Item{Kind: "packages", Key: "apt-archives", Group: "apt"}
	files, _ := filepath.Glob(filepath.Join(c.AptArchives(), "*.deb"))
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			it.Size += st.Size()
			if st.ModTime().After(it.LastUsed) {
				it.LastUsed = st.ModTime()
			}
		}
	}
	it.Created = it.LastUsed
	return it
}

// clearApt deletes apt's shared downloads; apt fetches them again.
func (c *Cache) clearApt(string) error {
	files, _ := filepath.Glob(filepath.Join(c.AptArchives(), "*.deb"))
	for _, f := range files {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
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

// Prune removes entries under the cache's exclusive lock, so no build is
// using the cache meanwhile, and clears leftovers of interrupted writes.
// It returns what it removed (or would remove).
func (c *Cache) Prune(ctx context.Context, opts PruneOptions) ([]Item, error) {
	unlock, err := c.Lock(ctx, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	items, err := c.Items()
	if err != nil {
		return nil, err
	}
	var removed []Item
	var total int64
	for _, it := range items {
		total += it.Size
	}
	// Least recently used last in items: walk from the end.
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		old := opts.OlderThan != 0 && opts.Now.Sub(it.LastUsed) > opts.OlderThan
		big := opts.MaxSize > 0 && total > opts.MaxSize
		if !old && !big {
			continue
		}
		if !opts.DryRun {
			rm := c.Remove
			switch it.Kind {
			case "pack":
				rm = c.RemovePack
			case "packages":
				rm = c.clearApt
			}
			if err := rm(it.Key); err != nil {
				return removed, fmt.Errorf("removing %s %s: %w", it.Kind, image.Short(it.Key), err)
			}
		}
		total -= it.Size
		removed = append(removed, it)
	}
	if !opts.DryRun {
		// Only an interrupted write leaves files in tmp/, and no build
		// is writing while we hold the lock.
		leftovers, _ := filepath.Glob(filepath.Join(c.Dir, "tmp", "*"))
		for _, l := range leftovers {
			_ = os.RemoveAll(l)
		}
	}
	return removed, nil
}
