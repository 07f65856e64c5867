package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The two builds' command lines and environments: from scratch (no
// cache, the user's BUILDER_CACHE_DIR dropped), their own work
// directories and thread counts (GOMAXPROCS too), one SOURCE_DATE_EPOCH
// in the flag and the environment, and the user's --var, --var-file,
// --only and --job.
func TestReproBuildCommandLines(t *testing.T) {
	tmp := t.TempDir()
	exe := filepath.Join(tmp, "fake-builder")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$0.$BUILD.args\"\nenv > \"$0.$BUILD.env\"\n"
	if err := os.WriteFile(exe, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	_, builds := newReproBuilds(filepath.Join(tmp, "out"))
	if builds[0].Threads == builds[1].Threads || builds[0].WorkDir == builds[1].WorkDir || builds[0].Dir == builds[1].Dir {
		t.Fatalf("the builds do not differ: %+v", builds)
	}
	opts := &reproOptions{job: "j1"}
	opts.vars = []string{"a=1"}
	opts.varFiles = []string{"v.hcl"}
	opts.only = []string{"split"}
	epoch := time.Unix(1700000000, 0)
	for i, b := range builds {
		n := strconv.Itoa(i + 1)
		a := &app{stderr: &bytes.Buffer{}, environ: []string{"PATH=" + os.Getenv("PATH"), "BUILDER_CACHE_DIR=/var/cache/mine",
			"SOURCE_DATE_EPOCH=1", "GOMAXPROCS=7", "BUILD=" + n}}
		if err := a.runReproBuild(context.Background(), exe, opts, "r.hcl", b, epoch, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		args, err := os.ReadFile(exe + "." + n + ".args")
		if err != nil {
			t.Fatal(err)
		}
		env, err := os.ReadFile(exe + "." + n + ".env")
		if err != nil {
			t.Fatal(err)
		}
		threads := strconv.Itoa(b.Threads)
		wantArgs := []string{"build", "r.hcl", "--cache-dir=", "--output", b.Dir, "--work-dir", b.WorkDir, "--threads", threads,
			"--source-date-epoch", "1700000000", "--var", "a=1", "--var-file", "v.hcl", "--only", "split", "--job", "j1"}
		if got := strings.Split(strings.TrimSuffix(string(args), "\n"), "\n"); !slices.Equal(got, wantArgs) {
			t.Errorf("build %d: argv %q, want %q", i+1, got, wantArgs)
		}
		var got []string
		for _, kv := range strings.Split(string(env), "\n") {
			if name, _, _ := strings.Cut(kv, "="); slices.Contains([]string{"GOMAXPROCS", "SOURCE_DATE_EPOCH", "BUILDER_CACHE_DIR"}, name) {
				got = append(got, kv)
			}
		}
		slices.Sort(got)
		if want := []string{"GOMAXPROCS=" + threads, "SOURCE_DATE_EPOCH=1700000000"}; !slices.Equal(got, want) {
			t.Errorf("build %d: environment %q, want %q", i+1, got, want)
		}
	}
}

// --output spelled "./out/": every directory repro made is removed, so
// the next repro there does not find it "not empty".
func TestReproRemovesWhatItMadeUnderAnyOutputSpelling(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, spelling := range []string{"./out", "out/", "out//x/../y", "./out/./z/"} {
		root, builds := newReproBuilds(spelling)
		for _, b := range builds {
			for _, d := range []string{b.Dir, b.WorkDir} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := removeReproDir(root, builds); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
			entries, _ := filepath.Glob(filepath.Join(root, "*", "*"))
			t.Errorf("--output %q: %s is left (%v), holding %v", spelling, root, err, entries)
		}
		os.RemoveAll("out")
	}
}

// startRepro starts `builder repro ARGS` from the repository root in a
// process group of its own, returning it and where its stdout goes.
func startRepro(t *testing.T, args ...string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(builderBinary(t), append([]string{"repro"}, args...)...)
	cmd.Dir = filepath.Join("..", "..")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	return cmd, out
}

// waitNapping waits until the build working in workParent runs its nap
// step (the step's mark is in the rootfs).
func waitNapping(t *testing.T, workParent string, out *lockedBuffer) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m, _ := filepath.Glob(filepath.Join(workParent, ".builder-work-*", "rootfs", "etc", "napping")); len(m) > 0 {
			return
		}
	}
	t.Fatalf("no build napped in %s:\n%s", workParent, out.String())
}

// Ctrl-C in the middle of the second build (SIGINT to the terminal's
// process group: repro and its build): exit 130, and nothing is left,
// neither the first build's output nor the second's work directory.
// Killed with SIGKILL during the first, repro takes its build along:
// the build stops and writes no output.
func TestReproInterrupted(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	if testing.Short() {
		t.Skip("three builds, two of them interrupted, 10 s: not in -short")
	}
	const recipe = "cmd/builder/testdata/repro/nap.hcl"
	dir := filepath.Join(t.TempDir(), "repro")
	cmd, out := startRepro(t, recipe, "--output", dir, "--quiet", "--var", "nap=3")
	waitNapping(t, filepath.Join(dir, "work-2", "deeper"), out)
	start := time.Now()
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Errorf("Ctrl-C: %v, want exit %d\n%s", err, exitInterrupted, out.String())
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("Ctrl-C took %s", took)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		left, _ := filepath.Glob(filepath.Join(dir, "*", "*"))
		t.Errorf("after Ctrl-C, %s is left (%v): %v", dir, err, left)
	}

	dir = filepath.Join(t.TempDir(), "repro")
	cmd, out = startRepro(t, recipe, "--output", dir, "--quiet", "--var", "nap=10")
	waitNapping(t, filepath.Join(dir, "work-1"), out)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// The build is the group's last process: wait for it to end.
	start = time.Now()
	for syscall.Kill(-cmd.Process.Pid, 0) == nil {
		if time.Since(start) > 2*time.Minute {
			t.Fatal("the build outlived repro by two minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the build went on for %s after repro was killed", took)
	}
	if _, err := os.Stat(filepath.Join(dir, "build-1", "split", "image.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the build went on to write its output after repro was killed (%v)", err)
	}
	// Its work directory may be left: its output went through repro,
	// so the first line it writes as it cleans up kills it (SIGPIPE).
	// The README says so.
}

// lockedBuffer is a buffer that a process's output and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
