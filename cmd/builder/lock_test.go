package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

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

// TestLockVerifyByName: each packed output is compared with its own
// instance type's block, found by name: a result that lists fewer
// outputs than the selection (only those packed) is not compared
// against the block of the output at its index.
func TestLockVerifyByName(t *testing.T) {
	amd64, _ := image.LookupArchitecture("amd64")
	ct := &recipe.Plan{InstanceType: recipe.InstanceContainer, Image: recipe.Image{Variant: "default", Architecture: amd64}}
	vm := &recipe.Plan{InstanceType: recipe.InstanceVM, Image: recipe.Image{Variant: "default", Architecture: amd64}}
	base := []lock.Package{{Name: "a", Version: "1", Architecture: "all"}}
	file := &lock.File{}
	file.Put(lock.Block{Key: lock.KeyOf(ct), Packages: base})
	file.Put(lock.Block{Key: lock.KeyOf(vm), Packages: append(slices.Clone(base), lock.Package{Name: "linux-image-amd64", Version: "6.1", Architecture: "amd64"})})
	sel := selection{first: ct, plans: []*recipe.Plan{ct, vm}, outputs: []recipe.Output{{Name: "container", Type: "split"}, {Name: "vm", Type: recipe.OutputVM}}}
	// The VM image lacks the kernel its block locks: it is the
	// container's block that it matches.
	res := build.Result{Outputs: []build.OutputResult{{Name: "vm", Image: image.ImageJSON{Packages: []image.Package{{Name: "a", Version: "1", Architecture: "all"}}}}}}
	locked := &buildLock{path: "r.lock.hcl", file: file, locked: true}
	if err := locked.afterBuild(sel, res, io.Discard); err == nil || !strings.Contains(err.Error(), "- linux-image-amd64=6.1 (amd64) (locked, not installed)") {
		t.Errorf("the vm output was not compared with the vm block: %v", err)
	}
}

type countingTarget struct{ n int }

func (c *countingTarget) Deliver(context.Context, string, image.ImageJSON) (deliver.Result, error) {
	c.n++
	return deliver.Result{}, nil
}

// lockFakeRecipe is a busybox recipe whose run step writes a dpkg status
// listing the package "fake" at var.fake (none when empty), and which
// copies a host file: the comparison after a locked build and the
// inputs' digests, at busybox's size.
const lockFakeRecipe = `variable "fake" {
  type    = string
  default = ""
}

image {
  name         = "lockfake"
  distribution = "busybox"
  release      = "static"
  architecture = "amd64"
}

bootstrap "busybox" {
}

file "/etc/x.conf" {
  source = "x.conf"
}

run "dpkg" {
  script = <<-EOT
    set -eu
    mkdir -p /var/lib/dpkg
    if [ -n "${var.fake}" ]; then
      printf 'Package: fake\nStatus: install ok installed\nVersion: %s\nArchitecture: amd64\n' "${var.fake}" > /var/lib/dpkg/status
    fi
  EOT
}
`

// TestLockedBuildCompares: a --locked build whose image installs a
// package the lock does not have fails (exit 1) naming it, keeping the
// image in its output directory for inspection; a copied host file
// changed after locking fails --locked before any step, naming it.
func TestLockedBuildCompares(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	tmp := t.TempDir()
	recipePath := filepath.Join(tmp, "fake.hcl")
	if err := os.WriteFile(recipePath, []byte(lockFakeRecipe), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "x.conf"), []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cacheDir := filepath.Join(tmp, "cache")
	stdout, stderr, status := builderExec(t, nil, "lock", recipePath, "--cache-dir", cacheDir)
	if status != 0 || !strings.Contains(stdout, "0 packages, 2 inputs") {
		t.Fatalf("lock: exit %d\n%s%s", status, stdout, stderr)
	}
	lockFile := filepath.Join(tmp, "fake.lock.hcl")
	first, err := os.ReadFile(lockFile)
	if err != nil || !strings.Contains(string(first), `input "x.conf" {`) {
		t.Fatalf("the lock file (%v):\n%s", err, first)
	}
	// Locking again (from the cache) writes the same bytes: a lock
	// file diffs only when the build changed.
	if _, stderr, status := builderExec(t, nil, "lock", recipePath, "--cache-dir", cacheDir); status != 0 {
		t.Fatalf("lock again: exit %d\n%s", status, stderr)
	}
	if again, _ := os.ReadFile(lockFile); !bytes.Equal(again, first) {
		t.Errorf("a second lock differs:\n%s\nfirst:\n%s", again, first)
	}

	out := filepath.Join(tmp, "out")
	_, stderr, status = builderExec(t, nil, "build", recipePath, "--locked", "--var", "fake=1.0", "-o", out, "--cache-dir", cacheDir)
	if status != 1 || !strings.Contains(stderr, "+ fake=1.0 (amd64) (not in the lock)") || !strings.Contains(stderr, "build with --no-cache") {
		t.Errorf("build --locked of an image with a package the lock lacks: exit %d, want 1 naming fake=1.0:\n%s", status, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "image.json")); err != nil {
		t.Errorf("the failed locked build's image is not kept for inspection: %v", err)
	}

	// A build without a Debian archive builder knows (busybox here, a
	// tarball or a directory): the locked packages cannot be found, so
	// --locked fails before building, naming them.
	withFake := filepath.Join(tmp, "fake-1.lock.hcl")
	if _, stderr, status := builderExec(t, nil, "lock", recipePath, "--var", "fake=1.0", "--lock", withFake, "--cache-dir", cacheDir); status != 0 {
		t.Fatalf("lock with fake=1.0: exit %d\n%s", status, stderr)
	}
	_, stderr, status = builderExec(t, nil, "build", recipePath, "--locked", "--lock", withFake, "--var", "fake=1.0", "-o", filepath.Join(tmp, "out1"), "--cache-dir", cacheDir)
	if status != 1 || !strings.Contains(stderr, "locked package version(s) of amd64 default container:\n  fake=1.0 (amd64)") || !strings.Contains(stderr, "no Debian archive builder knows of") {
		t.Errorf("build --locked without an archive: exit %d, want 1 naming fake=1.0:\n%s", status, stderr)
	}

	if err := os.WriteFile(filepath.Join(tmp, "x.conf"), []byte("two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, status = builderExec(t, nil, "build", recipePath, "--locked", "-o", filepath.Join(tmp, "out2"), "--cache-dir", cacheDir, "--json")
	if want := `input x.conf (file "/etc/x.conf") has digest sha256:`; status != 1 || !strings.Contains(stderr, want) {
		t.Errorf("build --locked after x.conf changed: exit %d, want 1 and %q:\n%s", status, want, stderr)
	}
	for _, e := range decodeEvents(t, stdout) {
		if e.Type == events.StepStart {
			t.Errorf("build --locked with a changed input ran %s", e.Step.Header())
		}
	}
}

// TestLockInterrupt sends builder lock SIGINT, as Ctrl-C does, while its
// stage runs a step: it exits 130 and leaves nothing beside the lock
// file's place (no work directory, no temporary file, no lock file),
// nothing mounted, no process; an existing lock file stays as it was.
func TestLockInterrupt(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	tmp := t.TempDir()
	data, err := os.ReadFile("testdata/rootfs/sleepy.hcl")
	if err != nil {
		t.Fatal(err)
	}
	recipePath := filepath.Join(tmp, "sleepy.hcl")
	if err := os.WriteFile(recipePath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	lockFile := filepath.Join(tmp, "sleepy.lock.hcl")
	const old = "# an older lock\n"
	if err := os.WriteFile(lockFile, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(builderBinary(t), "lock", recipePath, "--no-cache")
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var rootfs string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if dirs, _ := filepath.Glob(filepath.Join(tmp, ".builder-lock-*", "rootfs")); len(dirs) == 1 && len(processesRootedIn(dirs[0])) > 0 {
			rootfs = dirs[0]
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the run step never started:\n%s", out.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != exitInterrupted {
		t.Errorf("exit = %v, want status %d:\n%s", err, exitInterrupted, out.String())
	}
	if left := processesRootedIn(rootfs); len(left) > 0 {
		t.Errorf("processes left in the rootfs: %v", left)
	}
	assertNothingMounted(t, tmp)
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		if e.Name() != "sleepy.hcl" && e.Name() != "sleepy.lock.hcl" {
			t.Errorf("the interrupted lock left %s", e.Name())
		}
	}
	if data, _ := os.ReadFile(lockFile); string(data) != old {
		t.Errorf("the interrupted lock changed the lock file: %q", data)
	}
}
