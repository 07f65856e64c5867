package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/events"
)

// cachedBuild runs build --json on the cache test recipe with a fixed
// SOURCE_DATE_EPOCH and returns its events by type and the fingerprint.
type cachedRun struct {
	cache       map[string]events.Event // by group
	ran, cached []string                // step headers
	fingerprint string
	notes       []string // the cache's output lines: damaged entries
}

func cachedBuild(t *testing.T, cacheDir, out string, args ...string) cachedRun {
	t.Helper()
	r, err := tryCachedBuild(builderBinary(t), cacheDir, out, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryCachedBuild is cachedBuild for goroutines, which must not call
// t.Fatal: it returns what went wrong instead.
func tryCachedBuild(bin, cacheDir, out string, args ...string) (cachedRun, error) {
	return tryCachedBuildOf(bin, "cmd/builder/testdata/rootfs/cached.hcl", cacheDir, out, args...)
}

// tryCachedBuildOf is tryCachedBuild on another recipe.
func tryCachedBuildOf(bin, recipePath, cacheDir, out string, args ...string) (cachedRun, error) {
	args = append([]string{"build", recipePath, "-o", out, "--json", "--cache-dir", cacheDir}, args...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1700000000")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return cachedRun{}, fmt.Errorf("build %v: %v\n%s", args, err, stderr.String())
	}
	r := cachedRun{cache: map[string]events.Event{}}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var e events.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return r, fmt.Errorf("build %v printed a line that is not an event: %s", args, sc.Text())
		}
		switch {
		case e.Type == events.Cache && (e.CacheStatus != events.CacheStored || r.cache[e.CacheGroup].CacheStatus == ""):
			r.cache[e.CacheGroup] = e
		case e.Type == events.StepEnd && e.Status == events.StatusCached:
			r.cached = append(r.cached, e.Step.Header())
		case e.Type == events.StepEnd:
			r.ran = append(r.ran, e.Step.Header())
		case e.Type == events.BuildEnd:
			r.fingerprint = e.Fingerprint
		case e.Type == events.Output && e.Label == "cache":
			r.notes = append(r.notes, e.Line)
		}
	}
	return r, nil
}

func (r cachedRun) status(group string) string { return r.cache[group].CacheStatus }

// TestBuildCache: a second build with no change hits every stage and the
// packed rootfs; a changed file re-runs the files group only, a changed
// run script the groups from it on, each miss saying which variable and
// which input changed; cached and uncached builds give one fingerprint.
func TestBuildCache(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "cache")
	out := filepath.Join(tmp, "out")

	cold := cachedBuild(t, dir, out)
	if cold.status("bootstrap") != events.CacheMiss || len(cold.cached) != 0 {
		t.Errorf("cold build: cache %v, cached steps %v", cold.cache, cold.cached)
	}

	warm := cachedBuild(t, dir, out)
	for _, g := range []string{"bootstrap", "packages", "files", "pack"} {
		if warm.status(g) != events.CacheHit {
			t.Errorf("warm build: %s is %q, want hit", g, warm.status(g))
		}
	}
	if len(warm.ran) != 0 || warm.fingerprint != cold.fingerprint {
		t.Errorf("warm build ran %v; fingerprint %s, cold %s", warm.ran, warm.fingerprint, cold.fingerprint)
	}

	// A damaged snapshot is a miss: removed, rebuilt, the build succeeds.
	snapshot := filepath.Join(dir, "stages", warm.cache["files"].CacheKey+".tar.zst")
	f, err := os.OpenFile(snapshot, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("garbage in the middle of the snapshot"), 200); err != nil {
		t.Fatal(err)
	}
	f.Close()
	stdout, stderr, status := builderExec(t, []string{"SOURCE_DATE_EPOCH=1700000000"}, "build", "cmd/builder/testdata/rootfs/cached.hcl", "-o", filepath.Join(tmp, "unified"),
		"--cache-dir", dir, "--type", "unified")
	if status != 0 || !strings.Contains(stdout, "removing it from the cache and building without it") {
		t.Errorf("damaged snapshot: exit %d\n%s%s", status, stdout, stderr)
	}
	if again := cachedBuild(t, dir, out); again.status("files") != events.CacheHit {
		t.Errorf("after the damaged snapshot was replaced: %v", again.cache)
	}

	// A damaged kept rootfs file likewise: dropped, the image built and
	// packed anew, with the fingerprint it always had.
	kept := filepath.Join(dir, "packs", warm.cache["pack"].CacheKey, "rootfs.squashfs")
	f, err = os.OpenFile(kept, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("garbage"), 100); err != nil {
		t.Fatal(err)
	}
	f.Close()
	repacked := cachedBuild(t, dir, out)
	if repacked.status("pack") != events.CacheStored || repacked.fingerprint != cold.fingerprint {
		t.Errorf("damaged kept rootfs: pack %q, fingerprint %s, want stored and %s", repacked.status("pack"), repacked.fingerprint, cold.fingerprint)
	}
	if again := cachedBuild(t, dir, out); again.status("pack") != events.CacheHit || again.fingerprint != cold.fingerprint {
		t.Errorf("after the kept rootfs was replaced: %v", again.cache)
	}

	greeting := cachedBuild(t, dir, out, "--var", "greeting=bye")
	if greeting.status("bootstrap") != events.CacheHit || greeting.status("packages") != events.CacheHit || greeting.status("files") != events.CacheMiss {
		t.Errorf("changed file: %v", greeting.cache)
	}
	reasons := strings.Join(greeting.cache["files"].Reasons, "\n")
	for _, want := range []string{"variable greeting: hello → bye", `file "/etc/greeting": content: hello⏎ → bye⏎`} {
		if !strings.Contains(reasons, want) {
			t.Errorf("files miss reasons lack %q:\n%s", want, reasons)
		}
	}
	if strings.Join(greeting.ran, ",") != `file "/etc/greeting",finalize` {
		t.Errorf("changed file ran %v", greeting.ran)
	}

	tool := cachedBuild(t, dir, out, "--var", "tool=two")
	if tool.status("bootstrap") != events.CacheHit || tool.status("packages") != events.CacheMiss {
		t.Errorf("changed script: %v", tool.cache)
	}
	if reasons := strings.Join(tool.cache["packages"].Reasons, "\n"); !strings.Contains(reasons, "variable tool: one → two") || !strings.Contains(reasons, `run "setup": script`) {
		t.Errorf("packages miss reasons:\n%s", reasons)
	}

	// Reproducible from the cached bootstrap: the same fingerprint as a
	// build that used no cache at all.
	uncached := cachedBuild(t, dir, filepath.Join(tmp, "uncached"), "--var", "greeting=bye", "--no-cache")
	if uncached.fingerprint != greeting.fingerprint || uncached.status("bootstrap") != events.CacheMiss {
		t.Errorf("--no-cache fingerprint %s (bootstrap %s), cached %s", uncached.fingerprint, uncached.status("bootstrap"), greeting.fingerprint)
	}

	// A bootstrap older than the TTL is rebuilt, and with it the kept
	// packed rootfs: the next build must not reuse the one packed from
	// the expired snapshots.
	packKey := warm.cache["pack"].CacheKey
	before := packCreated(t, dir, packKey)
	expired := cachedBuild(t, dir, out, "--cache-ttl", "1ns")
	if expired.status("bootstrap") != events.CacheMiss || !strings.Contains(strings.Join(expired.cache["bootstrap"].Reasons, ""), "--cache-ttl") {
		t.Errorf("expired bootstrap: %+v", expired.cache["bootstrap"])
	}
	if after := packCreated(t, dir, packKey); !after.After(before) {
		t.Errorf("the packed rootfs kept after a TTL rebuild is from %s, before it (%s)", after, before)
	}
	if next := cachedBuild(t, dir, out); next.status("pack") != events.CacheHit || len(next.ran) != 0 {
		t.Errorf("after the TTL rebuild: %v, ran %v", next.cache, next.ran)
	}

	// The summary says which stages hit and why the first miss missed.
	summary, stderr, status := builderExec(t, []string{"SOURCE_DATE_EPOCH=1700000000"}, "build", "cmd/builder/testdata/rootfs/cached.hcl", "-o", out, "--cache-dir", dir, "-q", "--var", "greeting=again")
	if want := `cache: bootstrap hit, packages hit, files miss (variable greeting: hello → again; file "/etc/greeting": content: hello⏎ → again⏎), pack stored`; status != 0 || !strings.Contains(summary, want) {
		t.Errorf("summary lacks %q: exit %d\n%s%s", want, status, summary, stderr)
	}

	ls, stderr, status := builderExec(t, nil, "cache", "ls", "--cache-dir", dir)
	if status != 0 || !strings.Contains(ls, "bootstrap") || !strings.Contains(ls, "busybox-cached-amd64-default") {
		t.Errorf("cache ls: exit %d\n%s%s", status, ls, stderr)
	}
	pruned, _, status := builderExec(t, nil, "cache", "prune", "--cache-dir", dir)
	if status != 0 || !strings.Contains(pruned, "removed") {
		t.Errorf("cache prune: exit %d\n%s", status, pruned)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "stages", "*")); len(left) != 0 {
		t.Errorf("prune left %v", left)
	}
}

func packCreated(t *testing.T, dir, key string) time.Time {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "packs", key, "pack.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Created time.Time }
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatal(err)
	}
	return e.Created
}

// TestBuildCacheHostFiles: a host file the recipe reads by path (here the
// busybox binary) keys the cache by its contents: new bytes under the same
// path rebuild the bootstrap, saying so.
func TestBuildCacheHostFiles(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "busybox")
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	build := func() string {
		stdout, stderr, status := builderExec(t, nil, "build", "recipes/busybox.hcl", "-o", filepath.Join(tmp, "out"),
			"--cache-dir", filepath.Join(tmp, "cache"), "--var", "busybox="+bin)
		if status != 0 {
			t.Fatalf("build: exit %d\n%s", status, stderr)
		}
		return stdout
	}
	build()
	if out := build(); !strings.Contains(out, "cache: bootstrap hit") {
		t.Errorf("unchanged binary:\n%s", out)
	}
	// Trailing bytes leave an ELF binary runnable and change its digest.
	if err := os.WriteFile(bin, append(data, 0, 0, 0, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	if out := build(); !strings.Contains(out, `cache: bootstrap miss: bootstrap "busybox": contents of `+bin) {
		t.Errorf("changed binary:\n%s", out)
	}
}

// TestBuildCacheShared: builds sharing one cache at once all succeed, with
// one fingerprint, and leave a consistent cache.
func TestBuildCacheShared(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "cache")
	var wg sync.WaitGroup
	runs := make([]cachedRun, 3)
	errs := make([]error, len(runs))
	bin := builderBinary(t)
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i], errs[i] = tryCachedBuild(bin, dir, filepath.Join(tmp, "out", string(rune('a'+i))))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range runs[1:] {
		if r.fingerprint != runs[0].fingerprint {
			t.Errorf("fingerprints differ: %s, %s", r.fingerprint, runs[0].fingerprint)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "tmp", "*")); len(left) != 0 {
		t.Errorf("temporary files left in the cache: %v", left)
	}
	if warm := cachedBuild(t, dir, filepath.Join(tmp, "warm")); warm.status("pack") != events.CacheHit {
		t.Errorf("after shared builds: %v", warm.cache)
	}
	if _, err := os.Stat(filepath.Join(dir, "lock")); err != nil {
		t.Error(err)
	}
}

// TestRootfsCache: builder rootfs uses the stage cache as build does: a
// second run restores the tree instead of building it, with the same
// files.
func TestRootfsCache(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	tmp := t.TempDir()
	run := func(dir string) string {
		stdout, stderr, status := builderExec(t, nil, "rootfs", "recipes/busybox.hcl", dir, "--cache-dir", filepath.Join(tmp, "cache"))
		if status != 0 {
			t.Fatalf("rootfs: exit %d\n%s", status, stderr)
		}
		return stdout
	}
	run(filepath.Join(tmp, "a"))
	out := run(filepath.Join(tmp, "b"))
	if !strings.Contains(out, "cache: files hit") || strings.Contains(out, "] post-files run") {
		t.Errorf("second rootfs did not restore:\n%s", out)
	}
	for _, f := range []string{"etc/motd", "etc/profile", "bin/busybox"} {
		a, errA := os.ReadFile(filepath.Join(tmp, "a", f))
		b, errB := os.ReadFile(filepath.Join(tmp, "b", f))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between the built and the restored tree (%v, %v)", f, errA, errB)
		}
	}
}
