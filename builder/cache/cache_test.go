package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/recipe"
)

const testRecipe = `
variable "pkgs" {
  type    = list(string)
  default = ["less"]
}
variable "secret" {
  default   = "s3cr3t"
  sensitive = true
}
image {
  distribution = "debian"
  release      = "bookworm"
  architecture = "amd64"
}
bootstrap "debootstrap" {}
packages {
  install = var.pkgs
}
run "token" {
  stage       = "post-packages"
  script      = "#!/bin/sh\necho ${var.secret} > /etc/token\n"
}
copy "/opt/data" {
  source = "data"
}
`

func plan(t *testing.T, dir string, vars ...string) *recipe.Plan {
	t.Helper()
	path := filepath.Join(dir, "r.hcl")
	if err := os.WriteFile(path, []byte(testRecipe), 0o644); err != nil {
		t.Fatal(err)
	}
	p, diags := recipe.NewLoader().Load(path, recipe.Options{HostArch: "amd64", Vars: vars})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return p
}

// hexKey is a valid key made from a word, for readable tests.
func hexKey(word string) string { return hexOf(word) }

func hexOf(data string) string {
	sum := sha256.Sum256([]byte(data))
	return hex.EncodeToString(sum[:])
}

func keys(points []Point) []string {
	var out []string
	for _, p := range points {
		out = append(out, p.Group+":"+p.Key[:8])
	}
	return out
}

func TestPoints(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(filepath.Join(data, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(content string) {
		if err := os.WriteFile(filepath.Join(data, "sub", "f"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("one")
	base, err := Points(plan(t, dir), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(base) != 3 || base[0].Group != GroupBootstrap || base[1].Group != GroupPackages || base[2].Group != GroupFiles {
		t.Fatalf("points %v", keys(base))
	}
	again, _ := Points(plan(t, dir), "")
	if strings.Join(keys(again), " ") != strings.Join(keys(base), " ") {
		t.Errorf("the same recipe gave other keys: %v, %v", keys(again), keys(base))
	}

	// A copied file's contents change the files group only.
	write("two")
	content, _ := Points(plan(t, dir), "")
	if content[0].Key != base[0].Key || content[1].Key != base[1].Key || content[2].Key == base[2].Key {
		t.Errorf("changed copy source: %v, was %v", keys(content), keys(base))
	}
	// Its time does not.
	write("one")
	old := time.Now().Add(-time.Hour)
	_ = os.Chtimes(filepath.Join(data, "sub", "f"), old, old)
	touched, _ := Points(plan(t, dir), "")
	if touched[2].Key != base[2].Key {
		t.Error("touching a copied file changed the key")
	}

	// The epoch the commands see re-keys every group.
	epoch, _ := Points(plan(t, dir), "1700000000")
	if epoch[0].Key == base[0].Key || epoch[2].Key == base[2].Key {
		t.Error("SOURCE_DATE_EPOCH does not enter the keys")
	}

	// A package list change re-keys packages and what follows.
	more, _ := Points(plan(t, dir, `pkgs=["less","curl"]`), "")
	if more[0].Key != base[0].Key || more[1].Key == base[1].Key || more[2].Key == base[2].Key {
		t.Errorf("changed packages: %v, was %v", keys(more), keys(base))
	}

	// Sensitive values enter as digests: keyed, never shown.
	secret, _ := Points(plan(t, dir, "secret=other"), "")
	if secret[1].Key == base[1].Key {
		t.Error("a sensitive script change did not change the key")
	}
	for _, in := range secret[1].Inputs {
		if strings.Contains(strings.Join(in.Values, " "), "other") || strings.Contains(strings.Join(in.Values, " "), "s3cr3t") {
			t.Errorf("input %s shows a sensitive value: %v", in.Name, in.Values)
		}
	}

	h := func(p []Point, vars map[string]string) History { return History{Points: p, Variables: vars} }
	reasons := Explain(h(base, map[string]string{"pkgs": `["less"]`}), true, h(more, map[string]string{"pkgs": `["less", "curl"]`}), 1)
	got := strings.Join(reasons, "\n")
	for _, want := range []string{`variable pkgs: ["less"] → ["less", "curl"]`, `packages: install gained "curl"`} {
		if !strings.Contains(got, want) {
			t.Errorf("explanation lacks %q:\n%s", want, got)
		}
	}
	if r := Explain(History{}, false, h(base, nil), 0); len(r) != 1 || !strings.Contains(r[0], "no earlier build") {
		t.Errorf("without history: %v", r)
	}
	if r := Explain(h(base, nil), true, h(base, nil), 2); !strings.Contains(strings.Join(r, ""), "not in the cache") {
		t.Errorf("same inputs, entry gone: %v", r)
	}
}

func TestDiffInputs(t *testing.T) {
	before := []Input{{Name: "a", Values: []string{"x", "y"}, List: true}, {Name: "b", Values: []string{"1"}}, {Name: "gone", Values: []string{"v"}}}
	after := []Input{{Name: "a", Values: []string{"y", "z"}, List: true}, {Name: "b", Values: []string{"2"}}, {Name: "new", Values: []string{"w"}}}
	got := strings.Join(diffInputs(before, after), "\n")
	want := "a gained \"z\", lost \"x\"\nb: 1 → 2\nnew: new (w)\ngone: removed"
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
}

func TestEntriesAndPrune(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string, size int, used time.Time) {
		f, err := c.TempFile("snap-*")
		if err != nil {
			t.Fatal(err)
		}
		f.Write(make([]byte, size))
		f.Close()
		if err := c.Commit(f.Name(), Entry{Key: hexKey(key), Group: GroupFiles, Created: used}); err != nil {
			t.Fatal(err)
		}
		_ = os.Chtimes(filepath.Join(c.Dir, entryName(hexKey(key))), used, used)
	}
	now := time.Now()
	put("old", 100, now.Add(-10*24*time.Hour))
	put("mid", 200, now.Add(-2*time.Hour))
	put("new", 300, now)
	if _, ok := c.Lookup(hexKey("nosuch")); ok {
		t.Error("lookup of a missing key hit")
	}
	if e, ok := c.Lookup(hexKey("mid")); !ok || e.Size != 200 {
		t.Errorf("lookup mid: %+v %v", e, ok)
	}
	// The hit refreshed mid's last use; a truncated snapshot misses, and
	// is removed as damaged.
	if err := os.Truncate(c.Snapshot(hexKey("new")), 10); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Lookup(hexKey("new")); ok {
		t.Error("a truncated snapshot hit")
	}
	if _, err := os.Stat(c.Snapshot(hexKey("new"))); !os.IsNotExist(err) {
		t.Errorf("the truncated snapshot was kept: %v", err)
	}
	put("new", 300, now)
	leftover, _ := c.TempFile("crashed-*")
	leftover.Close()
	deb := filepath.Join(c.AptArchives(), "old_1.0_amd64.deb")
	if err := os.WriteFile(deb, make([]byte, 50), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(deb, now.Add(-30*24*time.Hour), now.Add(-30*24*time.Hour))

	removed, err := c.Prune(context.Background(), PruneOptions{OlderThan: 7 * 24 * time.Hour, DryRun: true})
	if err != nil || len(removed) != 2 || removed[0].Key != "apt-archives" || removed[1].Key != hexKey("old") {
		t.Fatalf("dry run: %v %v", removed, err)
	}
	if _, err := os.Stat(c.Snapshot(hexKey("old"))); err != nil {
		t.Error("dry run removed old")
	}
	removed, err = c.Prune(context.Background(), PruneOptions{OlderThan: 7 * 24 * time.Hour, MaxSize: 350})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range removed {
		names = append(names, r.Key)
	}
	// apt's downloads and old by age, then the least recently used
	// until 350 bytes remain.
	if want := []string{"apt-archives", hexKey("old"), hexKey("new")}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("pruned %v, want %v", names, want)
	}
	if _, ok := c.Lookup(hexKey("mid")); !ok {
		t.Error("prune removed the recently used entry")
	}
	if left, _ := filepath.Glob(filepath.Join(c.Dir, "tmp", "*")); len(left) != 0 {
		t.Errorf("prune left temporary files: %v", left)
	}
	if _, err := os.Stat(deb); !os.IsNotExist(err) {
		t.Errorf("prune kept apt's old downloads: %v", err)
	}
}

func TestUsable(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string, created time.Time) {
		f, err := c.TempFile("snap-*")
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := c.Commit(f.Name(), Entry{Key: hexKey(key), Group: GroupFiles, Created: created}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	points := []Point{{Group: GroupBootstrap, Key: hexKey("b")}, {Group: GroupPackages, Key: hexKey("p")}, {Group: GroupFiles, Key: hexKey("f")}}
	put("b", now.Add(-time.Hour))
	put("p", now.Add(-30*time.Minute))
	if hit, _, why := c.Usable(points, Policy{}); hit != 1 || why != "" {
		t.Errorf("files missing: hit %d, %q", hit, why)
	}
	put("f", now.Add(-2*time.Hour)) // made before the bootstrap it follows was rebuilt
	if hit, _, why := c.Usable(points, Policy{}); hit != 1 || !strings.Contains(why, "predates") {
		t.Errorf("stale files snapshot: hit %d, %q", hit, why)
	}
	if hit, _, why := c.Usable(points, Policy{TTL: 10 * time.Minute}); hit != -1 || !strings.Contains(why, "--cache-ttl") {
		t.Errorf("expired bootstrap: hit %d, %q", hit, why)
	}
}

func TestPackEntries(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "rootfs.squashfs")
	if err := os.WriteFile(src, []byte("squash"), 0o644); err != nil {
		t.Fatal(err)
	}
	key := PackKey("final", "split", "squashfs", "xz-6", "none", "host")
	if key == PackKey("final", "split", "squashfs", "xz-9", "none", "host") {
		t.Error("the compression does not enter the pack key")
	}
	e := PackEntry{Key: key, Image: "img", File: image.FileInfo{Name: "rootfs.squashfs", Role: image.RoleRootfs, Size: 6, SHA256: hexOf("squash")}}
	for range 2 { // the second store finds it there
		if err := c.StorePack(src, e); err != nil {
			t.Fatal(err)
		}
	}
	got, ok := c.LookupPack(key)
	if !ok || got.Image != "img" {
		t.Fatalf("lookup: %+v %v", got, ok)
	}
	f, err := c.OpenPackFile(key, got)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(f)
	f.Close()
	if string(data) != "squash" || c.PackFile(key, got) != filepath.Join(c.Dir, "packs", key, "rootfs.squashfs") {
		t.Errorf("stored %q at %s", data, c.PackFile(key, got))
	}
	// What is stored is what was packed: a file that changed since is
	// not kept.
	other := e
	other.File.SHA256 = hexOf("other")
	if err := c.StorePack(src, other); err == nil || !strings.Contains(err.Error(), "not "+hexOf("other")) {
		t.Errorf("storing a file whose sha256 is not the recorded one: %v", err)
	}
	if err := c.RemovePack(key); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.LookupPack(key); ok {
		t.Error("removed pack still found")
	}
}

// TestPackDiskEntries: a VM image's disk is kept with its record, which
// a lookup checks like the rest of the entry; a disk without a record, or
// a rootfs file with one, is damage.
func TestPackDiskEntries(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var damage []Damage
	c.Report = func(d Damage) { damage = append(damage, d) }
	src := filepath.Join(t.TempDir(), "disk.qcow2")
	if err := os.WriteFile(src, []byte("QFI disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	disk := &image.Disk{Format: "qcow2", Size: 4 << 30, Filesystem: "ext4", SecureBoot: true,
		DiskGUID: "11111111-2222-4333-8444-555555555555", ESPPartUUID: "21111111-2222-4333-8444-555555555555",
		RootPartUUID: "31111111-2222-4333-8444-555555555555", ESPSerial: "ABCD-1234", RootUUID: "41111111-2222-4333-8444-555555555555"}
	key := PackKey("final", "vm", "4294967296", "ext4", "true", "qcow2", "img", "vm", "none", "host")
	file := image.FileInfo{Name: "disk.qcow2", Role: image.RoleDisk, Size: 8, SHA256: hexOf("QFI disk")}
	if err := c.StorePack(src, PackEntry{Key: key, Image: "img", File: file}); err == nil {
		t.Error("a disk stored without its record")
	}
	if err := c.StorePack(src, PackEntry{Key: key, Image: "img", File: image.FileInfo{Name: "disk.qcow2", Role: image.RoleRootfs, Size: 8, SHA256: file.SHA256}, Disk: disk}); err == nil {
		t.Error("a disk stored as a rootfs file")
	}
	if err := c.StorePack(src, PackEntry{Key: key, Image: "img", File: file, Disk: disk}); err != nil {
		t.Fatal(err)
	}
	got, ok := c.LookupPack(key)
	if !ok || got.Disk == nil || *got.Disk != *disk {
		t.Fatalf("lookup: %+v %v", got, ok)
	}
	// The record is read back as untrusted as the rest.
	meta := filepath.Join(c.Dir, "packs", key, "pack.json")
	data, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(meta, []byte(strings.Replace(string(data), "ABCD-1234", "../../x", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.LookupPack(key); ok || len(damage) != 1 || !strings.Contains(damage[0].Error(), "esp_serial") {
		t.Errorf("a damaged disk record: found %v, damage %v", ok, damage)
	}
}

// TestCommitKeepsAConcurrentBuildsSnapshot: a snapshot stored under the
// same key since this build started came from a build running at the
// same time and stays; one stored before it (a rebuild after the TTL,
// --no-cache) is replaced. Without the rule, builds sharing a cache could
// leave a group's snapshot older than its parent's, a stale chain.
func TestCommitKeepsAConcurrentBuildsSnapshot(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	commit := func(created, started time.Time, body string) {
		t.Helper()
		f, err := c.TempFile("snap-*")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(body); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := c.Commit(f.Name(), Entry{Key: hexKey("k"), Group: GroupPackages, Created: created, BuildStarted: started}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	commit(now.Add(-time.Hour), time.Time{}, "old")
	commit(now, now.Add(-time.Minute), "mine")
	e, ok := c.Lookup(hexKey("k"))
	if !ok || !e.Created.Equal(now) {
		t.Fatalf("a snapshot from before the build started was kept: %+v", e)
	}
	commit(now.Add(time.Second), now.Add(-time.Minute), "concurrent")
	if e, _ := c.Lookup(hexKey("k")); !e.Created.Equal(now) || e.Size != int64(len("mine")) {
		t.Errorf("the concurrent build's later snapshot replaced the first one: %+v", e)
	}
	if left, _ := filepath.Glob(filepath.Join(c.Dir, "tmp", "*")); len(left) != 0 {
		t.Errorf("the discarded snapshot was left: %v", left)
	}
}
