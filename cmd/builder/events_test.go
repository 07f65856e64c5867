package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/isolation"
)

// decodeEvents parses NDJSON, failing on any line that is not an event.
func decodeEvents(t *testing.T, stdout string) []events.Event {
	t.Helper()
	var list []events.Event
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var e events.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Type == "" || e.Time.IsZero() {
			t.Fatalf("stdout line is not an event (%v): %s", err, sc.Text())
		}
		list = append(list, e)
	}
	if len(list) == 0 {
		t.Fatal("no events on stdout")
	}
	return list
}

// TestBuildFailureReport: a run step exiting 3 makes the build exit 1
// with the block's file:line, its recipe lines, the command's status and
// its last output lines, in text and in the event stream.
func TestBuildFailureReport(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	out := filepath.Join(t.TempDir(), "out")
	recipe := "cmd/builder/testdata/rootfs/fails.hcl"

	_, stderr, status := builderExec(t, nil, "build", recipe, "-o", out)
	if status != exitFailure {
		t.Fatalf("exit %d, want 1\n%s", status, stderr)
	}
	for _, want := range []string{
		`builder: run "fail" failed (` + recipe + `:10): the script exited with status 3`,
		`    10 | run "fail" {`,
		"  command: the script, exit status 3",
		"  last 2 lines of its output:\n    about to fail\n    on stderr\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}

	stdout, stderr, status := builderExec(t, nil, "build", recipe, "-o", out, "--json")
	if status != exitFailure {
		t.Fatalf("--json: exit %d, want 1\n%s", status, stderr)
	}
	list := decodeEvents(t, stdout)
	if list[0].Type != events.BuildStart || list[0].Recipe != recipe {
		t.Errorf("first event: %+v", list[0])
	}
	last := list[len(list)-1]
	if last.Type != events.BuildEnd || last.Status != events.StatusFailed || last.Error == nil {
		t.Fatalf("last event: %+v", last)
	}
	var failed *events.Event
	for i, e := range list {
		if e.Type == events.StepEnd && e.Status == events.StatusFailed {
			failed = &list[i]
		}
	}
	if failed == nil {
		t.Fatalf("no failed step_end in:\n%s", stdout)
	}
	f := failed.Error
	if failed.Step.Kind != "run" || failed.Step.Name != "fail" || f.File != recipe || f.Line != 10 ||
		f.ExitStatus == nil || *f.ExitStatus != 3 || strings.Join(f.Tail, "|") != "about to fail|on stderr" {
		t.Errorf("failed step_end: %+v, error %+v", failed.Step, f)
	}
}

// TestBuildJSONEvents: a successful build --import --json reports every
// step with its position and duration, the files, the import with the
// daemon's fingerprint and aliases, and the build's end.
func TestBuildJSONEvents(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	requireLXD(t)
	out := filepath.Join(t.TempDir(), "out")
	alias := "builder-test-events-" + uniqueSuffix()
	stdout, stderr, status := builderExec(t, nil, "build", "recipes/busybox.hcl", "-o", out, "--json", "--import="+alias, "--no-cache")
	if status != 0 {
		t.Fatalf("exit %d\n%s", status, stderr)
	}
	j := readImageJSON(t, out)
	deleteImageLater(t, j.Fingerprint)
	if !strings.Contains(stderr, "==> packing") {
		t.Errorf("the log does not go to stderr:\n%s", stderr)
	}
	started := map[int]bool{}
	counts := map[events.Type]int{}
	var imported *events.Event
	list := decodeEvents(t, stdout)
	for i, e := range list {
		counts[e.Type]++
		switch e.Type {
		case events.StepStart:
			started[e.Step.Index] = true
			if e.Step.Kind != "finalize" && (e.Step.File != "recipes/busybox.hcl" || e.Step.Line == 0) {
				t.Errorf("step_start without a recipe position: %+v", e.Step)
			}
		case events.StepEnd:
			if !started[e.Step.Index] || e.Status != events.StatusOK || e.Duration <= 0 {
				t.Errorf("step_end: %+v status %s duration %v", e.Step, e.Status, e.Duration)
			}
		case events.Import:
			imported = &list[i]
		}
	}
	// Every step of the recipe's plan, whatever the recipe holds, and
	// finalize.
	var plan struct{ Steps []json.RawMessage }
	if err := json.Unmarshal([]byte(runBuilder(t, nil, "inspect", "recipes/busybox.hcl", "--json")), &plan); err != nil {
		t.Fatal(err)
	}
	steps := len(plan.Steps) + 1
	if counts[events.StepStart] != steps || counts[events.StepEnd] != steps || counts[events.Artifact] != len(j.Files) {
		t.Errorf("event counts %v; want %d steps (the plan's %d + finalize) and %d artifacts", counts, steps, len(plan.Steps), len(j.Files))
	}
	if imported == nil || imported.Fingerprint != j.Fingerprint || len(imported.Aliases) != 1 || imported.Aliases[0] != alias ||
		imported.Uploaded == nil || !*imported.Uploaded {
		t.Errorf("import event: %+v", imported)
	}
	last := list[len(list)-1]
	if last.Type != events.BuildEnd || last.Status != events.StatusOK || last.Fingerprint != j.Fingerprint || last.Output != out {
		t.Errorf("build_end: %+v", last)
	}
}

// TestBuildTimeout: --timeout stops a build stuck in a run step; builder
// exits 1 saying so, with the work directory gone and nothing mounted.
func TestBuildTimeout(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	parent := t.TempDir()
	stdout, stderr, status := builderExec(t, nil, "build", "cmd/builder/testdata/rootfs/sleepy.hcl",
		"-o", filepath.Join(parent, "out"), "--timeout", "2s", "--json")
	if status != exitFailure || !strings.Contains(stderr, "the build took longer than --timeout 2s and was stopped") {
		t.Fatalf("exit %d\n%s", status, stderr)
	}
	list := decodeEvents(t, stdout)
	last := list[len(list)-1]
	if last.Type != events.BuildEnd || last.Status != events.StatusFailed || last.Error == nil || !strings.Contains(last.Error.Message, "--timeout") {
		t.Errorf("build_end: %+v %+v", last, last.Error)
	}
	if left, _ := filepath.Glob(filepath.Join(parent, ".builder-work-*")); len(left) != 0 {
		t.Errorf("work directories left: %v", left)
	}
	assertNothingMounted(t, parent)
}

// TestBuildOnErrorAbort: --on-error=abort keeps the failed build's tree
// for inspection, unmounted; a bad value is a usage error.
func TestBuildOnErrorAbort(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	parent := t.TempDir()
	_, stderr, status := builderExec(t, nil, "build", "cmd/builder/testdata/rootfs/fails.hcl",
		"-o", filepath.Join(parent, "out"), "--on-error=abort")
	if status != exitFailure || !strings.Contains(stderr, "keeping ") {
		t.Fatalf("exit %d\n%s", status, stderr)
	}
	kept, _ := filepath.Glob(filepath.Join(parent, ".builder-work-*", "rootfs", "bin", "busybox"))
	if len(kept) != 1 {
		t.Errorf("the failed tree is not kept: %v", kept)
	}
	assertNothingMounted(t, parent)
	t.Cleanup(func() {
		for _, k := range kept {
			_ = isolation.RemoveTree(filepath.Dir(filepath.Dir(filepath.Dir(k))))
		}
	})

	_, stderr, status = builderExec(t, nil, "build", "recipes/busybox.hcl", "--on-error=ask")
	if status != exitUsage || !strings.Contains(stderr, "--on-error must be cleanup or abort") {
		t.Errorf("--on-error=ask: exit %d\n%s", status, stderr)
	}
}

// TestBuildLogModes: without a terminal every log line carries the time;
// --quiet prints the summary alone; build_end has the time per stage.
func TestBuildLogModes(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	out := filepath.Join(t.TempDir(), "out")
	stdout, stderr, status := builderExec(t, nil, "build", "recipes/busybox.hcl", "-o", out)
	if status != 0 {
		t.Fatalf("exit %d\n%s", status, stderr)
	}
	stamped := regexp.MustCompile(`^\d\d:\d\d:\d\d `)
	log, summary, _ := strings.Cut(stdout, "==> built busybox-amd64")
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if !stamped.MatchString(line) {
			t.Errorf("log line without a time: %q", line)
		}
	}
	for _, want := range []string{"fingerprint ", "busybox-amd64.tar.gz", "time: bootstrap "} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}

	stdout, stderr, status = builderExec(t, nil, "build", "recipes/busybox.hcl", "-o", out, "--quiet")
	if status != 0 || !strings.HasPrefix(stdout, "==> built busybox-amd64") || strings.Count(stdout, "==>") != 1 || stderr != "" {
		t.Errorf("--quiet: exit %d\nstdout:\n%s\nstderr:\n%s", status, stdout, stderr)
	}

	stdout, _, _ = builderExec(t, nil, "build", "recipes/busybox.hcl", "-o", out, "--json")
	list := decodeEvents(t, stdout)
	stages := list[len(list)-1].Stages
	for _, name := range []string{"bootstrap", "files", "runs", "finalize", "pack"} {
		if _, ok := stages[name]; !ok {
			t.Errorf("build_end stages %v lack %s", stages, name)
		}
	}
}

// TestBuildInterrupt sends SIGINT, as Ctrl-C does, while a build's run
// step waits in the chroot: builder exits 130, the stream ends with an
// interrupted build_end, and no work directory or mount is left.
func TestBuildInterrupt(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	parent := t.TempDir()
	cmd := exec.Command(builderBinary(t), "build", "cmd/builder/testdata/rootfs/sleepy.hcl", "-o", filepath.Join(parent, "out"), "--json")
	cmd.Dir = filepath.Join("..", "..")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), `"line":"waiting"`) {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
	}
	err = cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != exitInterrupted {
		t.Errorf("exit = %v, want %d", err, exitInterrupted)
	}
	list := decodeEvents(t, seen.String())
	if last := list[len(list)-1]; last.Type != events.BuildEnd || last.Status != events.StatusInterrupted {
		t.Errorf("last event: %+v", last)
	}
	if left, _ := filepath.Glob(filepath.Join(parent, ".builder-work-*")); len(left) != 0 {
		t.Errorf("work directories left: %v", left)
	}
	assertNothingMounted(t, parent)
}
