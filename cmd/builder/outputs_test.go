package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/output"
	"github.com/builder-images/builder/builder/recipe"
	"github.com/builder-images/builder/internal/testenv"
)

// stepRun is one step_end: the step's kind, its instance type, and
// whether it came from the cache.
type stepRun struct {
	kind, instanceType string
	cached             bool
}

const outputsRecipe = "cmd/builder/testdata/rootfs/outputs.hcl"

// outputsRun is what one build --json of the two-output recipe said.
type outputsRun struct {
	// ran and cached are the steps that ran and came from the cache,
	// by kind, as often as they did.
	ran, cached []string
	// steps are the steps ended, in order.
	steps []stepRun
	// cache is each cache event's status, by group and output name, the
	// groups of a vm stage as "vm GROUP".
	cache map[string]string
	// artifacts are the files reported, by output name.
	artifacts map[string][]string
	start     events.Event
	end       events.Event
}

func buildOutputs(t *testing.T, out string, args ...string) outputsRun {
	t.Helper()
	stdout, stderr, status := builderExec(t, []string{"SOURCE_DATE_EPOCH=1700000000"},
		append([]string{"build", outputsRecipe, "-o", out, "--json"}, args...)...)
	if status != 0 {
		t.Fatalf("build %v: exit %d\n%s", args, status, stderr)
	}
	return collectOutputs(t, stdout)
}

func collectOutputs(t *testing.T, stdout string) outputsRun {
	t.Helper()
	r := outputsRun{cache: map[string]string{}, artifacts: map[string][]string{}}
	for _, e := range decodeEvents(t, stdout) {
		switch {
		case e.Type == events.StepEnd && e.Status == events.StatusCached:
			r.cached = append(r.cached, e.Step.Kind)
			r.steps = append(r.steps, stepRun{kind: e.Step.Kind, instanceType: e.InstanceType, cached: true})
		case e.Type == events.StepEnd:
			r.ran = append(r.ran, e.Step.Kind)
			r.steps = append(r.steps, stepRun{kind: e.Step.Kind, instanceType: e.InstanceType})
		case e.Type == events.Cache:
			key := strings.TrimSpace(e.CacheGroup + " " + e.OutputName)
			if e.InstanceType != "" && e.InstanceType != recipe.InstanceContainer && e.OutputName == "" {
				key = e.InstanceType + " " + key
			}
			if e.CacheStatus != events.CacheStored || r.cache[key] == "" {
				r.cache[key] = e.CacheStatus
			}
		case e.Type == events.Artifact:
			r.artifacts[e.OutputName] = append(r.artifacts[e.OutputName], e.File.Name)
		case e.Type == events.BuildStart:
			r.start = e
		case e.Type == events.BuildEnd:
			r.end = e
		}
	}
	return r
}

// TestBuildSeveralOutputs: a recipe with two container outputs builds
// both from one run of its steps, each into OUTPUT/NAME, with events
// naming the output; a second build is served from the cache (the
// split image's rootfs file included) and gives the same images.
func TestBuildSeveralOutputs(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	cacheDir := filepath.Join(tmp, "cache")

	cold := buildOutputs(t, out, "--cache-dir", cacheDir)
	if n := count(cold.ran, "bootstrap"); n != 1 || count(cold.ran, "file") != 1 {
		t.Errorf("the steps ran %v; want each once for both outputs", cold.ran)
	}
	fingerprints := map[string]string{}
	for _, name := range []string{"lxd", "unified"} {
		j := readImageJSON(t, filepath.Join(out, name))
		fingerprints[name] = j.Fingerprint
		if len(cold.artifacts[name]) != len(j.Files) {
			t.Errorf("artifact events of %s: %v; image.json lists %d files", name, cold.artifacts[name], len(j.Files))
		}
	}
	if j := readImageJSON(t, filepath.Join(out, "lxd")); j.Type != "split" || j.Files[1].Name != "rootfs.tar.gz" {
		t.Errorf("lxd: %s image of %v, want a split one with rootfs.tar.gz", j.Type, j.Files)
	}
	if j := readImageJSON(t, filepath.Join(out, "unified")); j.Type != "unified" {
		t.Errorf("unified: a %s image", j.Type)
	}
	if _, err := os.Stat(filepath.Join(out, "image.json")); !os.IsNotExist(err) {
		t.Errorf("an image.json at the top of the output directory: %v", err)
	}
	if len(cold.start.Outputs) != 2 || cold.start.Outputs[0].Name != "lxd" || cold.start.Outputs[1].Dir != filepath.Join(out, "unified") {
		t.Errorf("build_start outputs: %+v", cold.start.Outputs)
	}
	if len(cold.end.Outputs) != 2 || cold.end.Outputs[0].Fingerprint != fingerprints["lxd"] || cold.end.Outputs[1].Fingerprint != fingerprints["unified"] {
		t.Errorf("build_end outputs: %+v; want %v", cold.end.Outputs, fingerprints)
	}
	if cold.cache["pack lxd"] != events.CacheStored {
		t.Errorf("cold build: the split rootfs file was not stored: %v", cold.cache)
	}

	warm := buildOutputs(t, out, "--cache-dir", cacheDir)
	for _, g := range []string{"bootstrap", "files", "pack lxd"} {
		if warm.cache[g] != events.CacheHit {
			t.Errorf("warm build: %s is %q, want hit (%v)", g, warm.cache[g], warm.cache)
		}
	}
	if slices.ContainsFunc(warm.ran, func(k string) bool { return k != "finalize" }) {
		t.Errorf("warm build ran %v", warm.ran)
	}
	for i, o := range warm.end.Outputs {
		if o.Fingerprint != fingerprints[o.Name] {
			t.Errorf("warm build: output %d %s has fingerprint %s, the cold one %s", i, o.Name, o.Fingerprint, fingerprints[o.Name])
		}
	}
}

// TestBuildSeveralOutputsImport: --import delivers every output, after
// all are packed, to LXD and to Incus; the daemon keeps one image per
// alias, so the second output's alias gets its name appended.
func TestBuildSeveralOutputsImport(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	for _, d := range testenv.Daemons(t) {
		t.Run(d.Name, func(t *testing.T) { testBuildSeveralOutputsImport(t, d) })
	}
}

func testBuildSeveralOutputsImport(t *testing.T, d testenv.Daemon) {
	out := filepath.Join(t.TempDir(), "out")
	alias := "builder-test-outputs-" + uniqueSuffix()
	stdout, stderr, status := builderExec(t, nil, append([]string{"build", outputsRecipe, "-o", out, "--json", "--no-cache", "--import=" + alias}, d.Args()...)...)
	if status != 0 {
		t.Fatalf("exit %d\n%s", status, stderr)
	}
	imported := map[string]events.Event{}
	for _, e := range decodeEvents(t, stdout) {
		if e.Type == events.Import {
			deleteImageLaterOn(t, d, e.Fingerprint)
			imported[e.OutputName] = e
		}
	}
	for name, want := range map[string]string{"lxd": alias, "unified": alias + "-unified"} {
		j := readImageJSON(t, filepath.Join(out, name))
		e, ok := imported[name]
		if !ok || e.Fingerprint != j.Fingerprint || !slices.Equal(e.Aliases, []string{want}) {
			t.Errorf("import of %s: %+v; want fingerprint %s, alias %s", name, e, j.Fingerprint, want)
		}
		if info := cli(t, d, "image", "info", want); !strings.Contains(info, "Fingerprint: "+j.Fingerprint) {
			t.Errorf("alias %s does not name %s:\n%s", want, j.Fingerprint, info)
		}
	}
}

// TestBuildOnly: --only builds the outputs named, and nothing else.
func TestBuildOnly(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	out := filepath.Join(t.TempDir(), "out")
	r := buildOutputs(t, out, "--only", "unified", "--no-cache")
	if _, err := os.Stat(filepath.Join(out, "lxd")); !os.IsNotExist(err) {
		t.Errorf("--only unified made the lxd output: %v", err)
	}
	j := readImageJSON(t, filepath.Join(out, "unified"))
	if len(r.end.Outputs) != 1 || r.end.Fingerprint != j.Fingerprint || r.end.Output != filepath.Join(out, "unified") {
		t.Errorf("build_end: %+v", r.end)
	}
	// The output flags apply to the one output selected.
	r = buildOutputs(t, out, "--only", "lxd", "--rootfs-format", "squashfs", "--no-cache")
	if j := readImageJSON(t, filepath.Join(out, "lxd")); j.Files[1].Name != "rootfs.squashfs" || len(r.end.Outputs) != 1 {
		t.Errorf("--only lxd --rootfs-format squashfs: %v", j.Files)
	}
}

// TestBuildOutputUsage: what cannot be built is refused before anything
// is, with exit status 2 and a message saying what to do.
func TestBuildOutputUsage(t *testing.T) {
	repoRoot(t)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--only", "vm"}, []string{`--only "vm"`, "its outputs: lxd, unified"}},
		{[]string{"--only", "lxd,nope"}, []string{`--only "nope"`}},
		{[]string{"--type", "unified"}, []string{"apply to one output", "this makes 2 (lxd, unified)", "--only NAME"}},
		{[]string{"--compression", "xz"}, []string{"--only NAME"}},
		{[]string{"--only", "unified", "--rootfs-format", "squashfs"}, []string{"squashfs needs --type split"}},
		{[]string{"--only", "lxd", "--size", "8GiB"}, []string{"--size is a setting of vm images", "--type vm"}},
		{[]string{"--only", "lxd", "--type", "vm"}, []string{"no output of that type", `type = "vm"`}},
		{[]string{"--only", "lxd", "--unified"}, []string{"--unified is for vm images", "--type unified"}},
	} {
		_, stderr, code := runCLI(t, "", nil, append([]string{"build", outputsRecipe, "-o", t.TempDir()}, c.args...)...)
		if code != exitUsage {
			t.Errorf("build %v: exit %d, want %d\n%s", c.args, code, exitUsage, stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("build %v: the message lacks %q:\n%s", c.args, w, stderr)
			}
		}
	}
	// A recipe with one unnamed output has nothing for --only to name.
	_, stderr, code := runCLI(t, "", nil, "build", "recipes/busybox.hcl", "--only", "lxd")
	if code != exitUsage || !strings.Contains(stderr, "unnamed") {
		t.Errorf("--only on an unnamed output: exit %d\n%s", code, stderr)
	}
	// Nor is its one output turned into a vm: its steps never saw
	// build.type = "vm".
	_, stderr, code = runCLI(t, "", nil, "build", "recipes/busybox.hcl", "--type", "vm")
	if code != exitUsage || !strings.Contains(stderr, "no output of that type") {
		t.Errorf("--type vm on a container recipe: exit %d\n%s", code, stderr)
	}
	// pack makes one image.
	_, stderr, code = runCLI(t, "", nil, "pack", t.TempDir(), "--recipe", outputsRecipe)
	if code != exitUsage || !strings.Contains(stderr, "choose one with --only") {
		t.Errorf("pack of a two-output recipe: exit %d\n%s", code, stderr)
	}
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// requireVMDisk skips or fails a test on a host that cannot build a VM
// disk (see vmdisk's own tests).
func requireVMDisk(t *testing.T) {
	t.Helper()
	for tool, pkg := range map[string]string{
		"mke2fs": "e2fsprogs", "debugfs": "e2fsprogs", "sgdisk": "gdisk", "sfdisk": "fdisk",
		"mkfs.vfat": "dosfstools", "mmd": "mtools", "mcopy": "mtools", "qemu-img": "qemu-utils",
	} {
		testenv.Command(t, tool, pkg)
	}
}

const vmOutputsRecipe = "cmd/builder/testdata/rootfs/vm.hcl"

// TestBuildContainerAndVM: one build makes a container image and a VM
// image of one recipe, the VM stage restoring the steps the two have
// alike (the bootstrap and the run step before the VM's own packages)
// from the snapshot the container stage made, whether the build has no
// cache (the build's private one), a cache, or --no-cache (this build's
// snapshots); a second build with a cache is served from it.
func TestBuildContainerAndVM(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	requireVMDisk(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	build := func(args ...string) outputsRun {
		t.Helper()
		stdout, stderr, status := builderExec(t, []string{"SOURCE_DATE_EPOCH=1700000000"},
			append([]string{"build", vmOutputsRecipe, "-o", out, "--json"}, args...)...)
		if status != 0 {
			t.Fatalf("build %v: exit %d\n%s", args, status, stderr)
		}
		return collectOutputs(t, stdout)
	}
	byType := func(r outputsRun, kind, typ string) (ran, cached int) {
		for _, s := range r.steps {
			if s.kind == kind && s.instanceType == typ {
				if s.cached {
					cached++
				} else {
					ran++
				}
			}
		}
		return ran, cached
	}

	// shared checks that the steps the types share ran once, in the
	// container stage, and that the vm stage ran its own.
	shared := func(what string, r outputsRun) {
		t.Helper()
		for _, kind := range []string{"bootstrap", "run"} {
			if ran, _ := byType(r, kind, "container"); ran != 1 {
				t.Errorf("%s: the container stage ran its %s step %d times", what, kind, ran)
			}
			if ran, cached := byType(r, kind, "vm"); ran != 0 || cached != 1 {
				t.Errorf("%s: the vm stage ran the %s step %d times (cached %d); want it restored from the container stage's", what, kind, ran, cached)
			}
		}
		if got := r.cache["vm packages-shared"]; got != events.CacheHit {
			t.Errorf("%s: the vm stage's shared packages point is %q, want hit (%v)", what, got, r.cache)
		}
		if ran, _ := byType(r, "packages", "vm"); ran != 1 {
			t.Errorf("%s: the vm stage ran its packages step %d times", what, ran)
		}
		if ran, cached := byType(r, "packages", "container"); ran+cached != 0 {
			t.Errorf("%s: the container stage ran the vm's packages step", what)
		}
	}

	cold := build("--cache-dir", "")
	shared("without a cache", cold)
	vm := readImageJSON(t, filepath.Join(out, "vm"))
	lxd := readImageJSON(t, filepath.Join(out, "lxd"))
	if vm.Type != "virtual-machine" || len(vm.Files) != 2 || vm.Files[1].Name != "disk.qcow2" || lxd.Type != "split" {
		t.Errorf("vm: %s %v; lxd: %s", vm.Type, vm.Files, lxd.Type)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, ".builder-work-*")); len(left) != 0 {
		t.Errorf("the work directory (and its private cache) stayed: %v", left)
	}

	cacheDir := filepath.Join(tmp, "cache")
	shared("with a cache", build("--cache-dir", cacheDir))
	shared("--no-cache", build("--cache-dir", cacheDir, "--no-cache"))
	warm := build("--cache-dir", cacheDir)
	if warm.cache["pack lxd"] != events.CacheHit {
		t.Errorf("warm build: the container's rootfs file is %q", warm.cache["pack lxd"])
	}
	for _, s := range warm.steps {
		if !s.cached && s.kind != "finalize" {
			t.Errorf("warm build ran %s for %s", s.kind, s.instanceType)
		}
	}
	if output.Reuses(recipe.Output{Type: recipe.OutputVM}) {
		if ran, cached := byType(warm, "finalize", "vm"); warm.cache["pack vm"] != events.CacheHit || ran != 0 || cached != 1 {
			t.Errorf("warm build: the vm disk is %q, its stage ran %d", warm.cache["pack vm"], ran)
		}
	}
	for _, o := range warm.end.Outputs {
		if want := readImageJSON(t, filepath.Join(out, o.Name)); o.Fingerprint != want.Fingerprint {
			t.Errorf("build_end: %s is %s, image.json %s", o.Name, o.Fingerprint, want.Fingerprint)
		}
	}
	// The vm stage's keys do not depend on --only: built alone, it is
	// served from the snapshots the builds of both types stored.
	alone := build("--cache-dir", cacheDir, "--only", "vm")
	if got := alone.cache["vm packages-shared"]; got != events.CacheHit {
		t.Errorf("--only vm: the shared packages point is %q, want hit (%v)", got, alone.cache)
	}
	for _, s := range alone.steps {
		if !s.cached && s.kind != "finalize" {
			t.Errorf("--only vm ran %s for %s", s.kind, s.instanceType)
		}
	}
}

// TestPackVM: 'builder rootfs --only vm' builds the VM's rootfs, which
// 'builder pack --only vm' packs; 'pack --type vm' packs a container
// recipe's rootfs as a VM image, with the disk flags.
func TestPackVM(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	requireVMDisk(t)
	tmp := t.TempDir()
	rootfs := filepath.Join(tmp, "rootfs")
	if _, stderr, status := builderExec(t, nil, "rootfs", vmOutputsRecipe, rootfs, "--only", "vm", "--cache-dir", ""); status != 0 {
		t.Fatalf("rootfs --only vm: exit %d\n%s", status, stderr)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "boot", "vmlinuz-6.1.0-9-amd64")); err != nil {
		t.Fatalf("the vm rootfs lacks the vm's packages: %v", err)
	}
	out := filepath.Join(tmp, "out")
	if _, stderr, status := builderExec(t, nil, "pack", rootfs, "--recipe", vmOutputsRecipe, "--only", "vm", "-o", out); status != 0 {
		t.Fatalf("pack --only vm: exit %d\n%s", status, stderr)
	}
	if j := readImageJSON(t, filepath.Join(out, "vm")); j.Type != "virtual-machine" {
		t.Errorf("pack --only vm made a %s image", j.Type)
	}
	// --unified: the same disk in one tarball.
	unified := filepath.Join(tmp, "unified")
	if _, stderr, status := builderExec(t, nil, "pack", rootfs, "--recipe", vmOutputsRecipe, "--only", "vm", "--unified", "-o", unified); status != 0 {
		t.Fatalf("pack --only vm --unified: exit %d\n%s", status, stderr)
	}
	if j := readImageJSON(t, filepath.Join(unified, "vm")); j.Type != "virtual-machine" || len(j.Files) != 1 || j.Files[0].Role != "unified" {
		t.Errorf("pack --unified made a %s image of %+v", j.Type, j.Files)
	}
	other := filepath.Join(tmp, "other")
	_, stderr, status := builderExec(t, nil, "pack", rootfs, "--recipe", "recipes/busybox.hcl", "--type", "vm", "--size", "600MiB",
		"--secure-boot=false", "--compression", "gzip", "-o", other)
	if status != 0 {
		t.Fatalf("pack --type vm: exit %d\n%s", status, stderr)
	}
	b, err := os.ReadFile(filepath.Join(other, "image.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"type": "virtual-machine"`, `"size": 629145600`, `"secure_boot": false`, `"lxd.tar.gz"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("pack --type vm: image.json lacks %s:\n%s", want, b)
		}
	}
}

// TestBuildContainerAndVMImport: a build imports its container and VM
// images into LXD and into Incus, the VM one as a virtual machine's; the
// image name both would take goes to the first, the VM's gets -vm.
func TestBuildContainerAndVMImport(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	requireVMDisk(t)
	for _, d := range testenv.Daemons(t) {
		t.Run(d.Name, func(t *testing.T) { testBuildContainerAndVMImport(t, d) })
	}
}

func testBuildContainerAndVMImport(t *testing.T, d testenv.Daemon) {
	out := filepath.Join(t.TempDir(), "out")
	stdout, stderr, status := builderExec(t, nil, append([]string{"build", vmOutputsRecipe, "-o", out, "--json", "--cache-dir", "", "--import"}, d.Args()...)...)
	if status != 0 {
		t.Fatalf("exit %d\n%s", status, stderr)
	}
	imported := map[string]events.Event{}
	for _, e := range decodeEvents(t, stdout) {
		if e.Type == events.Import {
			deleteImageLaterOn(t, d, e.Fingerprint)
			imported[e.OutputName] = e
		}
	}
	name := readImageJSON(t, filepath.Join(out, "lxd")).Properties["name"]
	for output, want := range map[string]struct{ alias, typ string }{"lxd": {name, "CONTAINER"}, "vm": {name + "-vm", "VIRTUAL-MACHINE"}} {
		j := readImageJSON(t, filepath.Join(out, output))
		if e := imported[output]; e.Fingerprint != j.Fingerprint || !slices.Equal(e.Aliases, []string{want.alias}) {
			t.Errorf("import of %s: %+v; want %s as %s", output, e, j.Fingerprint, want.alias)
		}
		if got := strings.TrimSpace(cli(t, d, "image", "list", j.Fingerprint, "--format", "csv", "--columns", "t")); got != want.typ {
			t.Errorf("%s is a %q image in %s, want %s", output, got, d.Name, want.typ)
		}
	}
}

// TestBuildOutputFails: an output that cannot be packed fails the build,
// named; the outputs packed before it are complete, and it leaves
// nothing under its name.
func TestBuildOutputFails(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	requireVMDisk(t)
	out := filepath.Join(t.TempDir(), "out")
	stdout, stderr, status := builderExec(t, nil, "build", vmOutputsRecipe, "-o", out, "--json", "--cache-dir", "", "--var", "boot_files=false")
	if status != exitFailure {
		t.Fatalf("exit %d, want %d\n%s", status, exitFailure, stderr)
	}
	r := collectOutputs(t, stdout)
	if r.end.Status != events.StatusFailed || r.end.Error == nil || !strings.Contains(r.end.Error.Message, "output vm: ") {
		t.Errorf("build_end: %+v", r.end)
	}
	if !strings.Contains(stderr, "output vm: ") {
		t.Errorf("the error does not name the output:\n%s", stderr)
	}
	if len(r.end.Outputs) != 1 || r.end.Outputs[0].Name != "lxd" {
		t.Errorf("build_end lists %+v; want the lxd output, packed before the failure", r.end.Outputs)
	}
	readImageJSON(t, filepath.Join(out, "lxd"))
	left, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		if e.Name() != "lxd" {
			t.Errorf("the failed build left %s in the output directory", e.Name())
		}
	}
}
