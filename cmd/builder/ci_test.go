package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/builder-images/builder/internal/testenv"
)

// TestSimulateNightly runs ci/simulate-nightly.sh, the nightly workflow's
// jobs on this machine: the matrix of a three-variant recipe, the build
// jobs, each testing its image with builder test on a real daemon, and
// the publish job into a tree on a real S3 server on loopback, which
// prune and verify then read back. The "broken" variant fails its test
// block: it must not be published, the others must, and the run must
// end with exit status 1, as the workflow run fails.
func TestSimulateNightly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and boots three images in every configuration (a minute)")
	}
	requireRoot(t)
	requireBusybox(t)
	testenv.Daemons(t)
	_, err := exec.LookPath("versitygw")
	testenv.Need(t, err == nil, "needs versitygw on PATH (make test-deps builds it into bin/tools)")
	testenv.Command(t, "ss", "iproute2")
	cmd := exec.Command("ci/simulate-nightly.sh", "-j", "3", "ci/testdata/busybox-matrix.hcl")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "BUILDER="+builderBinary(t))
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Fatalf("simulate-nightly: %v, want exit status 1 (one image failed its test)\n%s", err, out)
	}
	for _, want := range []string{
		"==> build busybox-matrix-default", "==> build busybox-matrix-tiny", "==> build busybox-matrix-broken",
		"==> test busybox-matrix-default: passed", "==> test busybox-matrix-tiny: passed",
		"==> test busybox-matrix-broken: FAILED, not published",
		"published busybox:nightly:default:x86_64:", "published busybox:nightly:tiny:x86_64:",
		"s3://images/nightly: 2 images verified",
		"1 image(s) failed builder test and were not published",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "published busybox:nightly:broken") {
		t.Errorf("the image that failed its test was published:\n%s", out)
	}
}

// TestInstallDepsFromScratch asks apt what ci/install-deps.sh would
// install on a machine with nothing installed (a simulation against an
// empty dpkg status): it must resolve, take from bookworm-backports only
// Incus and the libraries only backports has, and keep bookworm's qemu
// 7.2, which the VM boot tests and emulated builds are verified with (the
// incus metapackage would bring backports' qemu 10).
func TestInstallDepsFromScratch(t *testing.T) {
	if testing.Short() {
		t.Skip("apt resolves some 230 packages (seconds)")
	}
	testenv.Command(t, "apt-get", "apt")
	script, err := os.ReadFile(filepath.Join("..", "..", "ci", "install-deps.sh"))
	if err != nil {
		t.Fatal(err)
	}
	list := func(name string) []string {
		m := regexp.MustCompile(`(?s)\n` + name + `="([^"]*)"`).FindSubmatch(script)
		if m == nil {
			t.Fatalf("ci/install-deps.sh has no %s list", name)
		}
		return strings.Fields(string(m[1]))
	}
	status := filepath.Join(t.TempDir(), "status")
	if err := os.WriteFile(status, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-s", "-o", "Dir::State::status=" + status, "install", "--no-install-recommends"}
	args = append(args, list("packages")...)
	for _, p := range list("backports") {
		args = append(args, p+"/bookworm-backports")
	}
	out, err := exec.Command("apt-get", args...).CombinedOutput()
	testenv.Need(t, err == nil || !strings.Contains(string(out), "bookworm-backports' for"),
		"needs bookworm-backports in apt's lists (ci/install-deps.sh adds it; then apt-get update)")
	if err != nil {
		t.Fatalf("apt-get %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	fromBackports := map[string]bool{"incus-base": true, "incus-client": true, "libcowsql0": true, "libraft0": true}
	inst := regexp.MustCompile(`(?m)^Inst (\S+) \((\S+) ([^\[]*)`)
	var qemu int
	for _, m := range inst.FindAllStringSubmatch(string(out), -1) {
		name, version, release := m[1], m[2], m[3]
		if strings.Contains(release, "Backports") && !fromBackports[name] {
			t.Errorf("%s %s would come from backports (%s)", name, version, strings.TrimSpace(release))
		}
		if strings.HasPrefix(name, "qemu-") {
			qemu++
			if !strings.HasPrefix(version, "1:7.2") {
				t.Errorf("%s %s: want bookworm's qemu 7.2", name, version)
			}
		}
	}
	for name := range fromBackports {
		if !regexp.MustCompile(`(?m)^Inst ` + regexp.QuoteMeta(name) + ` \(\S+ [^)]*Backports`).MatchString(string(out)) {
			t.Errorf("%s is not installed from backports:\n%s", name, out)
		}
	}
	if qemu == 0 {
		t.Errorf("no qemu package in the simulation:\n%s", out)
	}
}

// TestNightlyPublishesOnlyTested keeps the gate in both pipelines: the
// build job tests what it built and keeps only what passed in tested/,
// its only image artifact, and publish reads nothing else.
func TestNightlyPublishesOnlyTested(t *testing.T) {
	parse := func(path string) map[string]any {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("..", "..", path))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return doc
	}
	text := func(v any) string {
		b, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	get := func(v any, keys ...string) any {
		for _, k := range keys {
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		}
		return v
	}

	gh := parse("ci/github/nightly.yml")
	var tested, uploaded bool
	steps, _ := get(gh, "jobs", "build", "steps").([]any)
	for _, step := range steps {
		run, _ := get(step, "run").(string)
		if strings.Contains(run, "builder test") && strings.Contains(run, `mv "$dir" "tested/$rel"`) {
			tested = true
		}
		if strings.HasPrefix(text(get(step, "uses")), "actions/upload-artifact") && strings.HasPrefix(text(get(step, "with", "name")), "image-") {
			uploaded = true
			if path := get(step, "with", "path"); path != "tested" {
				t.Errorf("GitHub: the image artifact uploads %v, want tested (only what passed)", path)
			}
			if !tested {
				t.Error("GitHub: the image artifact is uploaded before the test step")
			}
		}
	}
	if !tested || !uploaded {
		t.Errorf("GitHub: build job tests (%v) and uploads the tested images (%v)", tested, uploaded)
	}
	if publish := text(get(gh, "jobs", "publish")); !strings.Contains(publish, "pattern: image-*") || !strings.Contains(publish, "find images -name image.json") {
		t.Errorf("GitHub: publish does not publish the output directories of the image-* artifacts:\n%s", publish)
	}

	gl := parse("ci/gitlab/build-job.yml")
	script := text(get(gl, ".builder-build", "script"))
	if !strings.Contains(script, "./bin/builder test") || !strings.Contains(script, `mv "$dir" "tested/$rel"`) {
		t.Errorf("GitLab: the build job does not test and keep what passed in tested/:\n%s", script)
	}
	paths := text(get(gl, ".builder-build", "artifacts", "paths"))
	if !strings.Contains(paths, "tested/") || strings.Contains(paths, "out/") {
		t.Errorf("GitLab: the build job's artifacts are %s; want tested/ and never out/", paths)
	}
	if publish := text(get(gl, "publish", "script")); !strings.Contains(publish, "find tested -name image.json") {
		t.Errorf("GitLab: publish does not publish tested/ alone:\n%s", publish)
	}
}
