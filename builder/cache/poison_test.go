package cache

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
)

// A poisoned cache: everything in it is written by an attacker who wants
// builder to delete or write files elsewhere. The victim directory beside
// the cache holds sentinel files that must come out of every operation
// unchanged.

var (
	keyA = strings.Repeat("a", 64)
	keyB = strings.Repeat("b", 64)
)

// poisoned opens an empty cache in T/cache beside a victim directory
// T/victim with sentinels, and returns both; the cache's reports are
// collected in *reports.
func poisoned(t *testing.T) (*Cache, string) {
	c, victim, _ := poisonedReporting(t)
	return c, victim
}

func poisonedReporting(t *testing.T) (*Cache, string, *[]Damage) {
	t.Helper()
	tmp := t.TempDir()
	victim := filepath.Join(tmp, "victim")
	for name, content := range map[string]string{
		"f": "sentinel", "f.json": "{}", "f.tar.zst": "tarball", "pack.json": `{"key":"x"}`,
		"keep.deb": "a package", "sub/g": "nested",
	} {
		path := filepath.Join(victim, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Open(filepath.Join(tmp, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	reports := &[]Damage{}
	c.Report = func(d Damage) { *reports = append(*reports, d) }
	before := tree(t, victim)
	t.Cleanup(func() {
		if after := tree(t, victim); after != before {
			t.Errorf("the victim directory changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
	return c, victim, reports
}

// reported checks that exactly the entries named were reported, once.
func reported(t *testing.T, reports *[]Damage, entries ...string) {
	t.Helper()
	var got []string
	for _, d := range *reports {
		got = append(got, d.Entry)
	}
	if strings.Join(got, " ") != strings.Join(entries, " ") {
		t.Errorf("reported %q, want %q", *reports, entries)
	}
	*reports = nil
}

// tree spells a directory's files and contents, one per line.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.Type().IsRegular() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			b.WriteString(rel + " = " + string(data) + "\n")
		} else {
			b.WriteString(rel + " " + d.Type().String() + "\n")
		}
		return nil
	})
	if err != nil {
		b.WriteString("error: " + err.Error())
	}
	return b.String()
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func pruneAll(t *testing.T, c *Cache) []Item {
	t.Helper()
	removed, err := c.Prune(context.Background(), PruneOptions{OlderThan: -1})
	if err != nil {
		t.Errorf("prune: %v", err)
	}
	return removed
}

// packed stores a healthy pack entry under key.
func packed(t *testing.T, c *Cache, key string) PackEntry {
	t.Helper()
	src := filepath.Join(t.TempDir(), "rootfs.squashfs")
	if err := os.WriteFile(src, []byte("squash"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := PackEntry{Key: key, Image: "img", File: image.FileInfo{Name: "rootfs.squashfs", Role: image.RoleRootfs, Size: 6, SHA256: hexOf("squash")}}
	if err := c.StorePack(src, e); err != nil {
		t.Fatal(err)
	}
	return e
}

// committed stores a healthy stage entry under key.
func committed(t *testing.T, c *Cache, key, content string) {
	t.Helper()
	f, err := c.TempFile("snap-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := c.Commit(f.Name(), Entry{Key: key, Group: GroupFiles, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// A pack.json whose key climbs out: prune used to remove the directory
// it named. ls shows it damaged; prune removes it, and only it.
func TestPoisonedPackKey(t *testing.T) {
	c, _, reports := poisonedReporting(t)
	packed(t, c, keyB)
	writeJSON(t, filepath.Join(c.Dir, "packs", keyA, "pack.json"),
		PackEntry{Key: "../../victim", File: image.FileInfo{Name: "rootfs.squashfs", Size: 1}})
	items, err := c.Items()
	if err != nil {
		t.Fatal(err)
	}
	var status []string
	for _, it := range items {
		status = append(status, it.Entry+" "+it.Status+" "+it.Problem)
	}
	if len(items) != 2 || items[1].Status != StatusDamaged || items[1].Entry != "packs/"+keyA || !strings.Contains(items[1].Problem, `"../../victim"`) || items[0].Status != StatusOK {
		t.Errorf("items:\n%s", strings.Join(status, "\n"))
	}
	removed, err := c.Prune(context.Background(), PruneOptions{OlderThan: time.Hour})
	if err != nil || len(removed) != 1 || removed[0].Entry != "packs/"+keyA {
		t.Errorf("prune --older-than 1h removed %+v: %v", removed, err)
	}
	if _, ok := c.LookupPack(keyB); !ok {
		t.Error("prune removed the healthy pack entry")
	}
	writeJSON(t, filepath.Join(c.Dir, "packs", keyA, "pack.json"), PackEntry{Key: "../../victim"})
	if _, ok := c.LookupPack(keyA); ok {
		t.Error("a pack entry with another key was used")
	}
	reported(t, reports, "packs/"+keyA)
	writeJSON(t, filepath.Join(c.Dir, "packs", keyA, "pack.json"), PackEntry{Key: "../../victim"})
	pruneAll(t, c)
	if left, _ := os.ReadDir(filepath.Join(c.Dir, "packs")); len(left) != 0 {
		t.Errorf("prune left %v", left)
	}
}

// A stage entry whose key climbs out, or whose name is not a key: prune
// used to remove KEY.json and KEY.tar.zst wherever the key pointed.
func TestPoisonedStageKey(t *testing.T) {
	c, _ := poisoned(t)
	writeJSON(t, filepath.Join(c.Dir, "stages", keyA+".json"), Entry{Key: "../../victim/f", Group: GroupFiles})
	writeJSON(t, filepath.Join(c.Dir, "stages", "..victim.json"), Entry{Key: "..victim", Group: GroupFiles})
	items, err := c.Items()
	if err != nil || len(items) != 2 || items[0].Status != StatusDamaged || items[1].Status != StatusDamaged {
		t.Errorf("items %+v: %v", items, err)
	}
	pruneAll(t, c)
	if left, _ := os.ReadDir(filepath.Join(c.Dir, "stages")); len(left) != 0 {
		t.Errorf("prune left %v", left)
	}
}

// A pack entry whose file name climbs out: a lookup used to hand the
// build a path outside the cache, which it read and wrote beside its
// output. Any name but the ones builder writes is damage.
func TestPoisonedPackFileName(t *testing.T) {
	for _, name := range []string{"../../../victim/f", "/victim/f", "rootfs.squashfs/../../x", "rootfs.tar.rar", ""} {
		t.Run(name, func(t *testing.T) {
			c, _, reports := poisonedReporting(t)
			e := packed(t, c, keyA)
			e.File.Name, e.File.Size = name, int64(len("sentinel"))
			writeJSON(t, filepath.Join(c.Dir, "packs", keyA, "pack.json"), e)
			if _, ok := c.LookupPack(keyA); ok {
				t.Errorf("a pack entry naming %q was used", name)
			}
			if _, err := os.Lstat(filepath.Join(c.Dir, "packs", keyA)); !os.IsNotExist(err) {
				t.Errorf("the damaged pack entry was kept: %v", err)
			}
			reported(t, reports, "packs/"+keyA)
			if _, err := c.OpenPackFile(keyA, e); err == nil {
				t.Error("a pack file name that is not builder's was opened")
			}
		})
	}
}

// A kept rootfs file replaced by a symlink is damage; so is one whose
// size is not the recorded one.
func TestPoisonedPackFile(t *testing.T) {
	c, victim, reports := poisonedReporting(t)
	e := packed(t, c, keyA)
	file := filepath.Join(c.Dir, "packs", keyA, "rootfs.squashfs")
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(victim, "f"), file); err != nil {
		t.Fatal(err)
	}
	e.File.Size = int64(len("sentinel"))
	writeJSON(t, filepath.Join(c.Dir, "packs", keyA, "pack.json"), e)
	if f, err := c.OpenPackFile(keyA, e); err == nil {
		f.Close()
		t.Error("a symlinked pack file was opened")
	}
	if _, ok := c.LookupPack(keyA); ok {
		t.Error("a symlinked pack file was used")
	}
	reported(t, reports, "packs/"+keyA+"/rootfs.squashfs")
	e = packed(t, c, keyA)
	if err := os.WriteFile(file, []byte("longer squash"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.LookupPack(keyA); ok {
		t.Error("a pack file of another size was used")
	}
	reported(t, reports, "packs/"+keyA+"/rootfs.squashfs")
}

// Symlinks planted in the cache are damage, never followed: a pack
// directory, the cache's own subdirectories, the locks.
func TestPoisonedSymlinks(t *testing.T) {
	t.Run("pack directory", func(t *testing.T) {
		c, victim, reports := poisonedReporting(t)
		if err := os.Symlink(victim, filepath.Join(c.Dir, "packs", keyA)); err != nil {
			t.Fatal(err)
		}
		if _, ok := c.LookupPack(keyA); ok {
			t.Error("a symlinked pack directory was used")
		}
		reported(t, reports, "packs/"+keyA)
		if err := os.Symlink(victim, filepath.Join(c.Dir, "packs", keyA)); err != nil {
			t.Fatal(err)
		}
		if err := c.RemovePack(keyA); err != nil {
			t.Error(err)
		}
		if err := os.Symlink(victim, filepath.Join(c.Dir, "packs", keyA)); err != nil {
			t.Fatal(err)
		}
		packed(t, c, keyA) // replaces the link, and removes it
		if _, ok := c.LookupPack(keyA); !ok {
			t.Error("the pack stored over a link is not found")
		}
		if err := c.RemovePack(keyA); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(victim, filepath.Join(c.Dir, "packs", keyA)); err != nil {
			t.Fatal(err)
		}
		pruneAll(t, c)
		if _, err := os.Lstat(filepath.Join(c.Dir, "packs", keyA)); !os.IsNotExist(err) {
			t.Errorf("the symlinked pack directory was kept: %v", err)
		}
	})
	for _, sub := range []string{"tmp", "stages", "packs", "history", "apt/archives", "apt"} {
		t.Run(sub, func(t *testing.T) {
			c, victim, reports := poisonedReporting(t)
			link := filepath.Join(c.Dir, sub)
			if err := os.RemoveAll(link); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(victim, link); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(c.Dir); err != nil {
				t.Errorf("reopening: %v", err)
			}
			pruneAll(t, c)
			if st, err := os.Lstat(link); err != nil || !st.IsDir() {
				t.Errorf("%s is not a directory again after prune: %v", sub, err)
			}
			reported(t, reports, sub)
			// And through every other way in.
			for _, op := range []func() error{
				func() error { _, err := c.TempFile("x-*"); return err },
				func() error { committed(t, c, keyA, "snapshot"); return nil },
				func() error { packed(t, c, keyB); return nil },
				func() error { return c.RecordBuild(History{Recipe: "/r.hcl"}) },
				func() error { _, err := c.AptLock(context.Background()); return err },
			} {
				if err := os.RemoveAll(link); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(victim, link); err != nil {
					t.Fatal(err)
				}
				if err := op(); err != nil {
					t.Error(err)
				}
				reported(t, reports, sub)
			}
		})
	}
	for _, lock := range []string{"lock", "apt/lock"} {
		t.Run(lock, func(t *testing.T) {
			c, victim, reports := poisonedReporting(t)
			if err := os.Symlink(filepath.Join(victim, "created"), filepath.Join(c.Dir, lock)); err != nil {
				t.Fatal(err)
			}
			take := c.Lock
			if lock != "lock" {
				take = func(ctx context.Context, _ bool) (func(), error) { return c.AptLock(ctx) }
			}
			unlock, err := take(context.Background(), false)
			if err != nil {
				t.Fatal(err)
			}
			unlock()
			reported(t, reports, lock)
		})
	}
}

// A snapshot replaced by a symlink to a host file (its size copied into
// the entry) used to be a hit, and restored from that file.
func TestPoisonedSnapshotSymlink(t *testing.T) {
	c, victim, reports := poisonedReporting(t)
	committed(t, c, keyA, "tarball")
	if err := os.Remove(c.Snapshot(keyA)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(victim, "f.tar.zst"), c.Snapshot(keyA)); err != nil {
		t.Fatal(err)
	}
	if f, err := c.OpenSnapshot(keyA); err == nil || !strings.Contains(err.Error(), "symlink") {
		if f != nil {
			f.Close()
		}
		t.Errorf("opening a symlinked snapshot: %v", err)
	}
	if _, ok := c.Lookup(keyA); ok {
		t.Error("a symlinked snapshot was a hit")
	}
	if _, err := os.Lstat(c.Snapshot(keyA)); !os.IsNotExist(err) {
		t.Errorf("the symlinked snapshot was kept: %v", err)
	}
	reported(t, reports, "stages/"+keyA+".tar.zst")
}

// A snapshot's sha256 is recorded when it is stored and checked before
// it is restored: other bytes of the same size are damage, and so is an
// entry with no sha256 (an older builder's).
func TestSnapshotSHA256(t *testing.T) {
	c, _, reports := poisonedReporting(t)
	committed(t, c, keyA, "tarball")
	e, ok := c.Lookup(keyA)
	if !ok || e.SHA256 != hexOf("tarball") || e.Size != int64(len("tarball")) {
		t.Fatalf("stored %+v", e)
	}
	f, err := c.OpenSnapshot(keyA)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(f)
	f.Close()
	if string(data) != "tarball" {
		t.Errorf("read %q", data)
	}
	if err := os.WriteFile(c.Snapshot(keyA), []byte("TARBALL"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Lookup(keyA); !ok {
		t.Fatal("a snapshot of the right size missed before it was hashed")
	}
	_, err = c.OpenSnapshot(keyA)
	var d Damage
	if !errors.As(err, &d) || d.Entry != "stages/"+keyA+".tar.zst" || !strings.Contains(d.Problem, "not the recorded "+hexOf("tarball")) {
		t.Errorf("opening a changed snapshot: %v", err)
	}
	if err := c.Remove(keyA); err != nil {
		t.Fatal(err)
	}
	reported(t, reports)

	committed(t, c, keyB, "tarball")
	writeJSON(t, filepath.Join(c.Dir, "stages", keyB+".json"), Entry{Key: keyB, Group: GroupFiles, Size: int64(len("tarball"))})
	if _, ok := c.Lookup(keyB); ok {
		t.Error("an entry without a sha256 was a hit")
	}
	reported(t, reports, "stages/"+keyB+".json")
}

// Builds storing one key at once, and builds looking it up meanwhile,
// never see one build's snapshot with another's entry: no false damage.
func TestConcurrentCommits(t *testing.T) {
	c, _, reports := poisonedReporting(t)
	var mu sync.Mutex
	c.Report = func(d Damage) { mu.Lock(); *reports = append(*reports, d); mu.Unlock() }
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 20 {
				f, err := c.TempFile("snap-*")
				if err != nil {
					t.Error(err)
					return
				}
				f.WriteString(strings.Repeat("x", w*100+i)) // another size each time
				f.Close()
				if err := c.Commit(f.Name(), Entry{Key: keyA, Group: GroupFiles, Created: time.Now()}); err != nil {
					t.Error(err)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 20 {
				if _, ok := c.Lookup(keyA); !ok {
					continue
				}
				if f, err := c.OpenSnapshot(keyA); err == nil {
					f.Close()
				} else if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("opening a snapshot being stored by others: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if _, ok := c.Lookup(keyA); !ok {
		t.Error("no entry after the commits")
	}
	reported(t, reports)
}
