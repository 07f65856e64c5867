package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/build"
	"github.com/builder-images/builder/builder/deliver"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/lock"
	"github.com/builder-images/builder/builder/recipe"
)

// TestLockBusybox: builder lock records the busybox recipe's input (the
// host's busybox binary, by digest); build --locked builds with it, and
// fails before building anything when the binary's digest is not the
// lock's, when the lock has no block for the build, or when there is no
// lock at all.
func TestLockBusybox(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	tmp := t.TempDir()
	lockFile, cacheDir := filepath.Join(tmp, "busybox.lock.hcl"), filepath.Join(tmp, "cache")
	stdout, stderr, status := builderExec(t, nil, "lock", "recipes/busybox.hcl", "--lock", lockFile, "--cache-dir", cacheDir)
	if status != 0 {
		t.Fatalf("lock: exit %d\n%s", status, stderr)
	}
	if !strings.Contains(stdout, "locked amd64 default container: 0 packages, 3 inputs") {
		t.Errorf("lock said:\n%s", stdout)
	}
	data, err := os.ReadFile(lockFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), lock.Header) || !strings.Contains(string(data), "  input \"/bin/busybox\" {\n    step   = \"bootstrap \\\"busybox\\\"\"\n") {
		t.Errorf("lock file:\n%s", data)
	}
	out := filepath.Join(tmp, "out")
	if _, stderr, status := builderExec(t, nil, "build", "recipes/busybox.hcl", "--locked", "--lock", lockFile, "-o", out, "--cache-dir", cacheDir); status != 0 {
		t.Fatalf("build --locked: exit %d\n%s", status, stderr)
	}

	digest := regexp.MustCompile(`digest = "sha256:[0-9a-f]+"`)
	other := digest.ReplaceAll(data, []byte(`digest = "sha256:`+strings.Repeat("0", 32)+`"`))
	for _, tc := range []struct {
		name, content, want string
	}{
		{"another digest", string(other), `input /bin/busybox (bootstrap "busybox") has digest sha256:`},
		{"no block", lock.Header, "has no build block for amd64 default container: run 'builder lock' for it"},
		{"no lock", "", "--locked: there is no lock file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.lock.hcl")
			if tc.content != "" {
				if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out := filepath.Join(t.TempDir(), "out")
			stdout, stderr, status := builderExec(t, nil, "build", "recipes/busybox.hcl", "--locked", "--lock", path, "-o", out, "--cache-dir", "", "--json")
			if status != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("build --locked: exit %d, want 1 and %q:\n%s", status, tc.want, stderr)
			}
			for _, e := range decodeEvents(t, stdout) {
				if e.Type == events.StepStart {
					t.Errorf("build --locked ran %s", e.Step.Header())
				}
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the failed build left %s: %v", out, err)
			}
		})
	}
}

// TestLockVerify: after a build, a --locked build fails on any package
// that differs from the lock, and refuses to deliver such an image; a
// build without --locked only warns of the drift.
func TestLockVerify(t *testing.T) {
	b := &lock.Block{Key: lock.Key{Architecture: "amd64", Variant: "default", InstanceType: "container"},
		Packages: []lock.Package{{Name: "a", Version: "1", Architecture: "all"}, {Name: "b", Version: "1", Architecture: "amd64"}}}
	file := &lock.File{}
	file.Put(*b)
	plan := &recipe.Plan{InstanceType: "container", Image: recipe.Image{Variant: "default"}}
	plan.Image.Architecture, _ = image.LookupArchitecture("amd64")
	out := recipe.Output{Name: "container", Type: "split"}
	sel := selection{first: plan, plans: []*recipe.Plan{plan}, outputs: []recipe.Output{out}}
	drifted := image.ImageJSON{Packages: []image.Package{{Name: "a", Version: "1", Architecture: "all"}, {Name: "b", Version: "2", Architecture: "amd64"}}}
	res := build.Result{Outputs: []build.OutputResult{{Name: "container", Image: drifted}}}

	var warned strings.Builder
	drift := &buildLock{path: "r.lock.hcl", file: file}
	if err := drift.afterBuild(sel, res, &warned); err != nil {
		t.Errorf("without --locked: %v", err)
	}
	if !strings.Contains(warned.String(), "warning: the packages of output container differ from r.lock.hcl (amd64 default container):\n  ~ b (amd64): locked 1, installed 2") {
		t.Errorf("drift warning:\n%s", warned.String())
	}
	locked := &buildLock{path: "r.lock.hcl", file: file, locked: true}
	warned.Reset()
	if err := locked.afterBuild(sel, res, &warned); err == nil || !strings.Contains(err.Error(), "~ b (amd64): locked 1, installed 2") || warned.Len() > 0 {
		t.Errorf("--locked: %v (%q)", err, warned.String())
	}
	blk, ok := locked.blockOf(sel, out)
	if !ok {
		t.Fatal("no block for the output")
	}
	inner := &countingTarget{}
	d := lockedDelivery{inner: inner, check: func(j image.ImageJSON) error { return locked.verify(out.Name, blk, j) }}
	if _, err := d.Deliver(context.Background(), "dir", drifted); err == nil || inner.n != 0 {
		t.Errorf("a drifted image was delivered (%v)", err)
	}
	same := image.ImageJSON{Packages: []image.Package{{Name: "b", Version: "1", Architecture: "amd64"}, {Name: "a", Version: "1", Architecture: "all"}}}
	if _, err := d.Deliver(context.Background(), "dir", same); err != nil || inner.n != 1 {
		t.Errorf("the locked image was not delivered: %v", err)
	}
	var none *buildLock
	if err := none.afterBuild(sel, res, &warned); err != nil || warned.Len() > 0 {
		t.Errorf("without a lock file: %v %q", err, warned.String())
	}
}

type countingTarget struct{ n int }

func (c *countingTarget) Deliver(context.Context, string, image.ImageJSON) (deliver.Result, error) {
	c.n++
	return deliver.Result{}, nil
}
