package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/isolation"
	"github.com/builder-images/builder/internal/testenv"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// TestMain removes the binary builderBinary built and the Debian tests'
// stage cache.
func TestMain(m *testing.M) {
	// No build is served from a cache unless its test asks for one with
	// --cache-dir: a test of a step must see the step run, and the
	// host's cache is not the tests' to fill.
	os.Setenv("BUILDER_CACHE_DIR", "")
	code := m.Run()
	if binaryPath != "" {
		os.RemoveAll(filepath.Dir(binaryPath))
	}
	removeDebianCache()
	os.Exit(code)
}

// builderBinary builds bin/builder once per test run, into a directory
// every user can read.
func builderBinary(t testing.TB) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "builder-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "builder")
		out, err := exec.Command("go", "build", "-o", binaryPath, "github.com/builder-images/builder/cmd/builder").CombinedOutput()
		if err != nil {
			binaryErr = &buildError{out: string(out), err: err}
		}
	})
	if binaryErr != nil {
		t.Fatalf("building builder: %v", binaryErr)
	}
	return binaryPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

func requireRoot(t testing.TB)    { testenv.Root(t) }
func requireBusybox(t testing.TB) { testenv.File(t, "/bin/busybox", "busybox-static") }

// assertNothingMounted checks the host's mount table below dir, or below
// its parent when a failed build removed it.
func assertNothingMounted(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		dir = filepath.Dir(dir)
	}
	if err := isolation.CheckNothingMounted(dir); err != nil {
		t.Errorf("after the build: %v", err)
	}
}

// processesRootedIn lists processes whose root directory is dir: what a
// step left running. A sandboxed command pivoted into a bind of dir, so
// the path of its root means nothing here; the directory's identity
// (device and inode) is what it shares with dir.
func processesRootedIn(dir string) []int {
	var want syscall.Stat_t
	if err := syscall.Stat(dir, &want); err != nil {
		return nil // removed already: no process can be in it
	}
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name()+"/root", &st) == nil && st.Dev == want.Dev && st.Ino == want.Ino {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestRootfsBusybox(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	bin := builderBinary(t)
	dir := filepath.Join(t.TempDir(), "rootfs")
	cmd := exec.Command(bin, "rootfs", "cmd/builder/testdata/rootfs/busybox.hcl", dir)
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("builder rootfs: %v\n%s", err, out)
	}
	for _, want := range []string{"==> [1/", `bootstrap "busybox"`, `run "late"`, "finalize done"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Errorf("reading %s: %v", p, err)
		}
		return string(b)
	}
	if got := read("etc/greeting"); got != "hello world\n" {
		t.Errorf("environment block and step environment: /etc/greeting = %q", got)
	}
	if got := read("etc/motd"); got != "welcome\n" {
		t.Errorf("/etc/motd = %q", got)
	}
	if st, err := os.Stat(filepath.Join(dir, "etc/motd")); err == nil {
		sys := st.Sys().(*syscall.Stat_t)
		if st.Mode().Perm() != 0o640 || sys.Uid != 65534 || sys.Gid != 65534 {
			t.Errorf("/etc/motd mode %v owner %d:%d, want 0640 65534:65534 (names from the image's passwd)", st.Mode().Perm(), sys.Uid, sys.Gid)
		}
	}
	if got := read("etc/apt/sources.list.d/extra.sources"); !strings.Contains(got, "URIs: https://apt.example.org/debian\nSuites: stable\nComponents: main contrib\nSigned-By: /etc/apt/keyrings/extra.asc\n") {
		t.Errorf("repository sources file:\n%s", got)
	}
	if got := read("etc/apt/keyrings/extra.asc"); !strings.HasPrefix(got, "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
		t.Errorf("repository key: %q", got)
	}
	if got := read("srv/data/sub/two.txt"); got != "two\n" {
		t.Errorf("copied tree: %q", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "etc/early")); !os.IsNotExist(err) {
		t.Errorf("/etc/early should have been removed: %v", err)
	}
	host, _ := os.Hostname()
	if got := strings.TrimSpace(read("etc/hostname")); got == host || got != "localhost" {
		t.Errorf("/etc/hostname = %q, want localhost (not the build host's %q)", got, host)
	}
	if after, _ := os.Hostname(); after != host {
		t.Errorf("a run step renamed the build host to %q", after)
	}
	if hostResolv, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		if got := read("root/resolv-during-build"); got != string(hostResolv) {
			t.Errorf("during the build /etc/resolv.conf was %q, want the host's", got)
		}
	}
	for _, gone := range []string{"usr/sbin/policy-rc.d", "etc/resolv.conf.builder-original"} {
		if _, err := os.Lstat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
			t.Errorf("/%s is left in the image: %v", gone, err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "dev")); len(entries) != 0 {
		t.Errorf("/dev holds %d entries after the build; the build's /dev is a tmpfs", len(entries))
	}
	assertNothingMounted(t, dir)
}

func TestRootfsFailingRunStep(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	bin := builderBinary(t)
	dir := filepath.Join(t.TempDir(), "rootfs")
	cmd := exec.Command(bin, "rootfs", "cmd/builder/testdata/rootfs/fails.hcl", dir)
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != exitFailure {
		t.Fatalf("exit = %v, want status 1:\n%s", err, out)
	}
	for _, want := range []string{
		`run "fail" (cmd/builder/testdata/rootfs/fails.hcl:10)`,
		"the script exited with status 3",
		"[fail] about to fail",
		"[fail] on stderr",
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the failed build's directory is left: %v", err)
	}
	// With --keep-on-error the tree stays for inspection, unmounted.
	cmd = exec.Command(bin, "rootfs", "--keep-on-error", "cmd/builder/testdata/rootfs/fails.hcl", dir)
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err == nil || !bytes.Contains(out, []byte("keeping "+dir)) {
		t.Errorf("--keep-on-error: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "bin", "busybox")); err != nil {
		t.Errorf("--keep-on-error removed the tree: %v", err)
	}
	assertNothingMounted(t, dir)
}

// TestRootfsKill kills builder with SIGKILL while a run step is inside the
// chroot, at several stages and from both sides (the builder process and
// the isolated child), and checks that no mount and no process is left.
func TestRootfsKill(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	bin := builderBinary(t)
	for _, tt := range []struct {
		stage string
		child bool // kill the isolated child instead of builder
	}{
		{"post-bootstrap", false},
		{"post-files", false},
		{"post-packages", true},
	} {
		t.Run(tt.stage, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "rootfs")
			cmd, _ := startSleepyBuild(t, bin, dir, "--var", "stage="+tt.stage)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			// The isolated child is not chrooted, so its mount table
			// shows the chroot's mounts under their full paths; the
			// host's shows none of them.
			child := isolatedChild(t, cmd.Process.Pid)
			mountinfo, err := os.ReadFile("/proc/" + strconv.Itoa(child) + "/mountinfo")
			if err != nil || !bytes.Contains(mountinfo, []byte(dir+"/sys ")) || !bytes.Contains(mountinfo, []byte(dir+"/dev/pts ")) {
				t.Errorf("the chroot's mounts are not in the build's namespace (%v)", err)
			}
			assertNothingMounted(t, dir)
			victim := cmd.Process.Pid
			if tt.child {
				victim = child
			}
			if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			// The kernel tears the namespaces down asynchronously.
			for ctx.Err() == nil && len(processesRootedIn(dir)) > 0 {
				time.Sleep(50 * time.Millisecond)
			}
			if left := processesRootedIn(dir); len(left) > 0 {
				t.Errorf("processes left in the rootfs: %v", left)
			}
			assertNothingMounted(t, dir)
			if tt.child {
				// builder outlived its child and cleaned up.
				if _, err := os.Stat(dir); !os.IsNotExist(err) {
					t.Errorf("builder did not remove the failed build: %v", err)
				}
			}
			if err := isolation.RemoveTree(dir); err != nil {
				t.Errorf("removing the killed build: %v", err)
			}
		})
	}
}

// isolatedChild returns the PID of builder's isolated child process.
func isolatedChild(t *testing.T, parent int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(parent) + "/task/" + strconv.Itoa(parent) + "/children")
	if err != nil {
		t.Fatal(err)
	}
	// The child is started from a locked thread, not necessarily the
	// main one; look at every thread.
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(parent) + "/task")
	for _, task := range tasks {
		c, _ := os.ReadFile("/proc/" + strconv.Itoa(parent) + "/task/" + task.Name() + "/children")
		b = append(b, c...)
		b = append(b, ' ')
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			return pid
		}
	}
	t.Fatal("builder has no child process")
	return 0
}

// TestRootfsInterrupt sends builder SIGINT, as Ctrl-C does, while a run
// step is inside the chroot: builder stops the step, unmounts, removes
// the half-built tree and exits 130.
func TestRootfsInterrupt(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	bin := builderBinary(t)
	dir := filepath.Join(t.TempDir(), "rootfs")
	cmd, out := startSleepyBuild(t, bin, dir)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != exitInterrupted {
		t.Errorf("exit = %v, want status %d:\n%s", err, exitInterrupted, out.String())
	}
	if !strings.Contains(out.String(), "interrupted") {
		t.Errorf("output does not say the build was interrupted:\n%s", out.String())
	}
	if left := processesRootedIn(dir); len(left) > 0 {
		t.Errorf("processes left in the rootfs: %v", left)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the interrupted build's directory is left: %v", err)
	}
	assertNothingMounted(t, dir)
}

// TestRootfsFromTree bootstraps from a busybox tree made by the busybox
// backend: as a gzip tarball with its checksum, and as a directory.
func TestRootfsFromTree(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	bin := builderBinary(t)
	repo := filepath.Join("..", "..")
	tmp := t.TempDir()
	base := busyboxTree(t, bin, filepath.Join(tmp, "base"))
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("builder %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	archive := filepath.Join(tmp, "base.tar.gz")
	if out, err := exec.Command("tar", "-C", base, "--numeric-owner", "-czf", archive, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	sum := sha256File(t, archive)

	for _, tt := range []struct{ kind, source, sha string }{
		{"tarball", archive, sum},
		{"directory", base, ""},
	} {
		t.Run(tt.kind, func(t *testing.T) {
			dir := filepath.Join(tmp, tt.kind)
			run("rootfs", "--var", "kind="+tt.kind, "--var", "source="+tt.source, "--var", "sha256="+tt.sha, "cmd/builder/testdata/rootfs/from-tree.hcl", dir)
			if b, err := os.ReadFile(filepath.Join(dir, "etc/checked")); err != nil || string(b) != "from-tree\n" {
				t.Errorf("/etc/checked = %q, %v", b, err)
			}
			if target, err := os.Readlink(filepath.Join(dir, "bin/sh")); err != nil || target != "/bin/busybox" {
				t.Errorf("/bin/sh -> %q, %v: symlinks must survive the bootstrap", target, err)
			}
			assertNothingMounted(t, dir)
		})
	}

	// A wrong checksum fails before anything is extracted.
	dir := filepath.Join(tmp, "bad-sum")
	cmd := exec.Command(bin, "rootfs", "--var", "source="+archive, "--var", "sha256="+strings.Repeat("0", 64), "cmd/builder/testdata/rootfs/from-tree.hcl", dir)
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("but the recipe expects "+strings.Repeat("0", 64))) {
		t.Errorf("wrong sha256: %v\n%s", err, out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the failed build's directory is left: %v", err)
	}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// busyboxTree builds the busybox test recipe into dir and marks it, as a
// base for the tarball and directory bootstraps.
func busyboxTree(t *testing.T, bin, dir string) string {
	t.Helper()
	cmd := exec.Command(bin, "rootfs", "cmd/builder/testdata/rootfs/busybox.hcl", dir)
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the busybox tree: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/origin"), []byte("tree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestRootfsImageLayouts bootstraps trees whose /usr/sbin or /usr are
// symlinks: a merged /usr/sbin (Arch, Fedora) builds, with policy-rc.d
// written inside the image and removed; a /usr pointing at a host
// directory fails without creating anything there.
func TestRootfsImageLayouts(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	bin := builderBinary(t)
	tmp := t.TempDir()
	build := func(base, dir string) ([]byte, error) {
		cmd := exec.Command(bin, "rootfs", "--var", "kind=directory", "--var", "source="+base, "cmd/builder/testdata/rootfs/from-tree.hcl", dir)
		cmd.Dir = filepath.Join("..", "..")
		return cmd.CombinedOutput()
	}

	merged := busyboxTree(t, bin, filepath.Join(tmp, "merged"))
	if err := os.RemoveAll(filepath.Join(merged, "usr/sbin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("bin", filepath.Join(merged, "usr/sbin")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "merged-out")
	if out, err := build(merged, dir); err != nil {
		t.Fatalf("merged /usr/sbin: %v\n%s", err, out)
	}
	if _, err := os.Lstat(filepath.Join(dir, "usr/bin/policy-rc.d")); !os.IsNotExist(err) {
		t.Errorf("policy-rc.d left in the merged /usr/sbin: %v", err)
	}

	victim := filepath.Join(tmp, "host-usr")
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	hostile := busyboxTree(t, bin, filepath.Join(tmp, "hostile"))
	if err := os.RemoveAll(filepath.Join(hostile, "usr")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(hostile, "usr")); err != nil {
		t.Fatal(err)
	}
	out, err := build(hostile, filepath.Join(tmp, "hostile-out"))
	if err == nil || !bytes.Contains(out, []byte("/usr")) {
		t.Errorf("a /usr leading to the host built: %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(victim); len(entries) != 0 {
		t.Errorf("the build created %d entries in the host directory /usr pointed at", len(entries))
	}
}

// startSleepyBuild starts builder on the sleepy recipe and returns once
// its run step is inside the chroot.
func startSleepyBuild(t *testing.T, bin, dir string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	args = append(append([]string{"rootfs"}, args...), "cmd/builder/testdata/rootfs/sleepy.hcl", dir)
	cmd := exec.Command(bin, args...)
	cmd.Dir = filepath.Join("..", "..")
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(processesRootedIn(dir)) == 0 {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the run step never started:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cmd, out
}
