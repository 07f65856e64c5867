package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/lock"
)

// lockDebian is TestEndToEndDebian's lock subtest, on the build's cache:
// builder lock records the packages the build installed (from the cached
// stage: no second debootstrap); build --locked gives an image whose
// packages are the lock's; a lock naming a version the archive lacks
// fails before anything is built, naming it; and a build without
// --locked reports the drift from that lock and succeeds.
func lockDebian(t *testing.T, cacheDir, built string) {
	tmp := t.TempDir()
	lockFile := filepath.Join(tmp, "debian.lock.hcl")
	start := time.Now()
	stdout, stderr, status := builderExec(t, nil, "lock", "recipes/debian.hcl", "--only", "container", "--lock", lockFile, "--cache-dir", cacheDir)
	if status != 0 {
		t.Fatalf("lock: exit %d\n%s", status, stderr)
	}
	t.Logf("builder lock after the build took %s: %s", time.Since(start).Round(time.Second), strings.TrimSpace(stdout))
	file, err := lock.Read(lockFile)
	if err != nil {
		t.Fatal(err)
	}
	b, ok := file.Find(lock.Key{Architecture: "amd64", Variant: "default", InstanceType: "container"})
	if !ok {
		t.Fatalf("no block for amd64 default container in:\n%s", lock.Encode(file))
	}
	if d := lock.Compare(b.Packages, imagePackages(t, built)); !d.Empty() || len(b.Packages) == 0 {
		t.Errorf("the lock's %d packages are not the build's:\n%s", len(b.Packages), strings.Join(d.Lines(), "\n"))
	}
	for _, p := range b.Packages {
		if p.Name == "libc6" && p.Source != "glibc" {
			t.Errorf("libc6 is locked with source %q, want glibc", p.Source)
		}
	}
	if b.Mirror == "" || len(b.Inputs) == 0 {
		t.Errorf("the lock records no mirror (%q) or no input (%v)", b.Mirror, b.Inputs)
	}

	out := filepath.Join(tmp, "locked")
	if _, stderr, status := builderExec(t, nil, "build", "recipes/debian.hcl", "--only", "container", "--locked", "--lock", lockFile, "-o", out, "--cache-dir", cacheDir); status != 0 {
		t.Fatalf("build --locked: exit %d\n%s", status, stderr)
	}
	installed := imagePackages(t, filepath.Join(out, "container"))
	if d := lock.Compare(b.Packages, installed); !d.Empty() || len(installed) != len(b.Packages) {
		t.Errorf("build --locked: image.json's packages are not the lock's:\n%s", strings.Join(d.Lines(), "\n"))
	}

	// A version the archive does not have.
	var less *lock.Package
	for i := range b.Packages {
		if b.Packages[i].Name == "less" {
			less = &b.Packages[i]
		}
	}
	if less == nil {
		t.Fatal("the lock has no package less")
	}
	real := less.Version
	less.Version = "0.0.0-builder-missing"
	bogus := filepath.Join(tmp, "bogus.lock.hcl")
	if err := lock.Write(bogus, file); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(tmp, "missing")
	stdout, stderr, status = builderExec(t, nil, "build", "recipes/debian.hcl", "--only", "container", "--locked", "--lock", bogus, "-o", missing, "--cache-dir", cacheDir, "--json")
	if status != 1 || !strings.Contains(stderr, "less=0.0.0-builder-missing (amd64)") {
		t.Errorf("build --locked with a missing version: exit %d, want 1 naming less=0.0.0-builder-missing (amd64):\n%s", status, stderr)
	}
	for _, e := range decodeEvents(t, stdout) {
		if e.Type == events.StepStart {
			t.Errorf("build --locked with a missing version ran %s", e.Step.Header())
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("build --locked with a missing version made %s", missing)
	}

	// Drift: without --locked the build succeeds and says what changed.
	_, stderr, status = builderExec(t, nil, "build", "recipes/debian.hcl", "--only", "container", "--lock", bogus, "-o", filepath.Join(tmp, "drift"), "--cache-dir", cacheDir)
	if want := "~ less (amd64): locked 0.0.0-builder-missing, installed " + real; status != 0 || !strings.Contains(stderr, want) {
		t.Errorf("build with a drifted lock: exit %d, want 0 and %q:\n%s", status, want, stderr)
	}
}

// imagePackages are the packages an output's image.json lists.
func imagePackages(t *testing.T, dir string) []lock.Package {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "image.json"))
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Packages []image.Package `json:"packages"`
	}
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	return lock.FromImage(j.Packages)
}
