package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/events"
)

// TestBuildCachePoisoned: a cache restored from an untrusted artifact,
// its entries rewritten to reach a victim directory beside it. Builds
// and prunes on it leave the victim untouched, report each damaged
// entry, remove it and build without it, with the fingerprint an intact
// cache gives.
func TestBuildCachePoisoned(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	if testing.Short() {
		t.Skip("eight builds and three prunes: not in -short")
	}
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "cache")
	// Three levels down, so that "../../../victim/f" names the same
	// file from the output directory as from packs/KEY/.
	out := filepath.Join(tmp, "a", "b", "out")
	victim := filepath.Join(tmp, "victim")

	cold := cachedBuild(t, dir, out)
	unified := cachedBuild(t, dir, filepath.Join(tmp, "unified"), "--type", "unified")
	packKey, filesKey := cold.cache["pack"].CacheKey, cold.cache["files"].CacheKey
	snapshot := filepath.Join(dir, "stages", filesKey+".tar.zst")
	packJSON := filepath.Join(dir, "packs", packKey, "pack.json")
	// Another valid tarball: the bootstrap snapshot, with no /etc/greeting.
	other, err := os.ReadFile(filepath.Join(dir, "stages", cold.cache["bootstrap"].CacheKey+".tar.zst"))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"f": []byte("sentinel"), "f.json": []byte("{}"), "f.tar.zst": []byte("x"), "sub/g": []byte("nested"), "secret.tar.zst": other,
	} {
		writeBytes(t, filepath.Join(victim, name), content)
	}
	intact := digestTree(t, victim)
	checkVictim := func(after string) {
		t.Helper()
		if got := digestTree(t, victim); got != intact {
			t.Errorf("after %s the victim directory changed:\n%s\nwas:\n%s", after, got, intact)
		}
	}
	reported := func(r cachedRun, entry, why string) {
		t.Helper()
		for _, n := range r.notes {
			if strings.Contains(n, entry) && strings.Contains(n, why) {
				return
			}
		}
		t.Errorf("no line reports %s as damaged (%s); the cache said %q", entry, why, r.notes)
	}

	// The packed rootfs's name climbs out of the cache and the output.
	editJSON(t, packJSON, func(e map[string]any) {
		e["file"].(map[string]any)["name"] = "../../../victim/f"
		e["file"].(map[string]any)["size"] = len("sentinel")
	})
	r := cachedBuild(t, dir, out)
	checkVictim("a build with a pack file name that climbs out")
	reported(r, "packs/"+packKey, "../../../victim/f")
	if r.fingerprint != cold.fingerprint || r.status("pack") != events.CacheStored {
		t.Errorf("pack file name: fingerprint %s (want %s), pack %q (want stored)", r.fingerprint, cold.fingerprint, r.status("pack"))
	}

	// A snapshot swapped for another valid tarball, its size made to match.
	writeBytes(t, snapshot, other)
	editJSON(t, filepath.Join(dir, "stages", filesKey+".json"), func(e map[string]any) { e["size"] = len(other) })
	r = cachedBuild(t, dir, filepath.Join(tmp, "unified"), "--type", "unified")
	// The sizes agree, so the stage is announced as a hit; the sha256,
	// checked before anything is extracted, does not.
	reported(r, "stages/"+filesKey+".tar.zst", "sha256")
	if r.fingerprint != unified.fingerprint {
		t.Errorf("changed snapshot: fingerprint %s, want %s", r.fingerprint, unified.fingerprint)
	}
	if r = cachedBuild(t, dir, filepath.Join(tmp, "unified"), "--type", "unified"); r.status("files") != events.CacheHit {
		t.Errorf("the changed snapshot was not stored again: files %q", r.status("files"))
	}

	// A snapshot replaced by a symlink to a tarball on the host.
	if err := os.Remove(snapshot); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(victim, "secret.tar.zst"), snapshot); err != nil {
		t.Fatal(err)
	}
	editJSON(t, filepath.Join(dir, "stages", filesKey+".json"), func(e map[string]any) { e["size"] = len(other) })
	r = cachedBuild(t, dir, filepath.Join(tmp, "unified"), "--type", "unified")
	checkVictim("a build with a snapshot symlinked to the host")
	reported(r, "stages/"+filesKey+".tar.zst", "symlink")
	if r.fingerprint != unified.fingerprint || r.status("files") != events.CacheMiss {
		t.Errorf("symlinked snapshot: fingerprint %s (want %s), files %q (want miss)", r.fingerprint, unified.fingerprint, r.status("files"))
	}
	if st, err := os.Lstat(snapshot); err != nil || !st.Mode().IsRegular() {
		t.Errorf("the symlinked snapshot was not replaced by a stored one: %v", err)
	}

	// Keys that climb out: the kept pack's, a planted pack's and stage's.
	plant := func() {
		editJSON(t, packJSON, func(e map[string]any) { e["key"] = "../../victim" })
		writeBytes(t, filepath.Join(dir, "packs", strings.Repeat("e", 64), "pack.json"),
			[]byte(`{"key":"../../victim","file":{"name":"rootfs.squashfs","size":1}}`))
		writeBytes(t, filepath.Join(dir, "stages", strings.Repeat("f", 64)+".json"), []byte(`{"key":"../../victim/f","group":"files"}`))
	}
	plant()
	ls, stderr, status := builderExec(t, nil, "cache", "ls", "--cache-dir", dir)
	if status != 0 || strings.Count(ls, "damaged:") != 3 || !strings.Contains(ls, "packs/"+strings.Repeat("e", 64)) {
		t.Errorf("cache ls does not show the three damaged entries: exit %d\n%s%s", status, ls, stderr)
	}
	r = cachedBuild(t, dir, out)
	checkVictim("a build with a pack key that climbs out")
	reported(r, "packs/"+packKey, "../../victim")
	if r.fingerprint != cold.fingerprint || r.status("pack") != events.CacheStored || r.status("files") != events.CacheHit {
		t.Errorf("pack key: fingerprint %s (want %s), pack %q, files %q", r.fingerprint, cold.fingerprint, r.status("pack"), r.status("files"))
	}
	pruned, stderr, status := builderExec(t, nil, "cache", "prune", "--cache-dir", dir, "--older-than", "1d")
	checkVictim("cache prune --older-than 1d")
	if status != 0 || strings.Count(pruned, "damaged") != 2 {
		t.Errorf("prune --older-than 1d does not remove the two planted entries: exit %d\n%s%s", status, pruned, stderr)
	}
	if ls, _, _ := builderExec(t, nil, "cache", "ls", "--cache-dir", dir); strings.Contains(ls, "damaged") || !strings.Contains(ls, "bootstrap") {
		t.Errorf("after prune --older-than 1d:\n%s", ls)
	}
	plant()
	pruned, stderr, status = builderExec(t, nil, "cache", "prune", "--cache-dir", dir)
	checkVictim("cache prune")
	if status != 0 {
		t.Errorf("cache prune: exit %d\n%s%s", status, pruned, stderr)
	}
	for _, sub := range []string{"stages", "packs"} {
		if left, _ := os.ReadDir(filepath.Join(dir, sub)); len(left) != 0 {
			t.Errorf("prune left %d entries in %s", len(left), sub)
		}
	}
}

func writeBytes(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// editJSON rewrites a JSON object file through edit.
func editJSON(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]any
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	edit(e)
	if data, err = json.Marshal(e); err != nil {
		t.Fatal(err)
	}
	writeBytes(t, path, data)
}

// digestTree spells a directory's entries with their types and the
// sha256 of each file, one per line.
func digestTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		fmt.Fprintf(&b, "%s %s", rel, d.Type())
		if d.Type().IsRegular() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %x", sha256.Sum256(data))
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
	}
	return b.String()
}
