package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/emulation"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/lxd"
	"github.com/builder-images/builder/builder/stage"
)

// doctorLines maps each check name to its report line.
func doctorLines(t *testing.T, stdout string) map[string]string {
	t.Helper()
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimRight(stdout, "\n"), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && (f[0] == "ok" || f[0] == "warn" || f[0] == "FAIL") {
			lines[f[1]] = l
		}
	}
	return lines
}

// statusOf is the status a line shows, for checks whose outcome depends
// on the machine (free space, emulators) where only the text is asserted.
func statusOf(lines map[string]string, name string) string {
	if f := strings.Fields(lines[name]); len(f) > 0 {
		return f[0]
	}
	return ""
}

func wantStatus(t *testing.T, lines map[string]string, name, status string, contains ...string) {
	t.Helper()
	l, ok := lines[name]
	if !ok {
		t.Errorf("no %s line", name)
		return
	}
	if !strings.HasPrefix(l, status+" ") {
		t.Errorf("%s: want %s:\n%s", name, status, l)
	}
	for _, c := range contains {
		if !strings.Contains(l, c) {
			t.Errorf("%s line lacks %q:\n%s", name, c, l)
		}
	}
}

// TestDoctorThisMachine runs doctor as users do and checks each line
// against what the test finds on this machine by itself.
func TestDoctorThisMachine(t *testing.T) {
	repoRoot(t)
	stdout, stderr, code := runCLI(t, "", nil, "doctor")
	t.Logf("builder doctor (exit %d):\n%s%s", code, stdout, stderr)
	lines := doctorLines(t, stdout)
	if os.Geteuid() == 0 {
		wantStatus(t, lines, "root", "ok", "running as root")
		wantStatus(t, lines, "namespaces", "ok", "mount and PID namespaces work")
	} else {
		wantStatus(t, lines, "root", "FAIL", "builder rootfs and build need root", "fix: run builds as root")
	}
	for _, tool := range stage.HostTools() {
		switch {
		case tool.PerArchitecture():
			wantStatus(t, lines, tool.Package, statusOf(lines, tool.Package))
		case tool.IsFile():
			if _, err := os.Stat(tool.Name); err == nil {
				wantStatus(t, lines, tool.Package, "ok", tool.Name)
			} else {
				wantStatus(t, lines, tool.Package, "FAIL", "does not exist", "fix: apt-get install "+tool.Package)
			}
		default:
			status := "FAIL"
			if tool.Foreign {
				status = "warn"
			}
			if path, err := exec.LookPath(tool.Name); err == nil {
				wantStatus(t, lines, tool.Name, "ok", path)
			} else if _, err := os.Stat(filepath.Join("/usr/sbin", tool.Name)); err != nil {
				wantStatus(t, lines, tool.Name, status, "not found on PATH", "fix: apt-get install "+tool.Package)
			}
		}
	}
	host, _ := image.HostArchitecture(runtime.GOARCH)
	if err := (emulation.Emulation{}).Enabled(); err != nil {
		wantStatus(t, lines, "binfmt", "warn", "only "+host.Distribution, "apt-get install qemu-user-static binfmt-support")
	} else {
		wantStatus(t, lines, "binfmt", statusOf(lines, "binfmt"), "native: "+host.Distribution)
	}
	wd, _ := os.Getwd()
	wantStatus(t, lines, "disk", statusOf(lines, "disk"), "free in "+wd)
	if _, ok := lines["daemon"]; !ok {
		t.Error("no daemon line")
	}
	if strings.Contains(stdout, "\nFAIL ") || strings.HasPrefix(stdout, "FAIL ") {
		if code != exitFailure || !strings.Contains(stdout, "failed,") {
			t.Errorf("a check failed, yet exit %d", code)
		}
	} else if code != exitOK {
		t.Errorf("no check failed, yet exit %d", code)
	}
	// root, namespaces, the host tools, binfmt, disk, daemon.
	if want := 5 + len(stage.HostTools()); len(lines) != want {
		t.Errorf("%d check lines, want %d", len(lines), want)
	}
}

// TestDoctorWithRecipe checks that a recipe narrows what is required and
// what architecture is checked.
func TestDoctorWithRecipe(t *testing.T) {
	repoRoot(t)
	stdout, _, _ := runCLI(t, "", nil, "doctor", "recipes/debian.hcl", "--var", "architecture=arm64", "--work-dir", "out/does/not/exist/yet")
	lines := doctorLines(t, stdout)
	wantStatus(t, lines, "recipe", "ok", "recipes/debian.hcl: arm64, debootstrap bootstrap, split squashfs output; needs debootstrap, mksquashfs, qemu-aarch64-static, update-binfmts, the binfmt handler qemu-aarch64")
	arm64, _ := image.LookupArchitecture("arm64")
	if err := emulation.CheckArchitecture(arm64, runtime.GOARCH); err != nil {
		var me *emulation.MissingEmulatorError
		if !errors.As(err, &me) {
			t.Fatal(err)
		}
		wantStatus(t, lines, "binfmt", "FAIL", me.Reason(), "fix: "+me.Fix())
	} else {
		wantStatus(t, lines, "binfmt", statusOf(lines, "binfmt"), "arm64 runs")
	}
	wd, _ := os.Getwd()
	wantStatus(t, lines, "disk", statusOf(lines, "disk"), "free in "+wd)
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		wantStatus(t, lines, "mmdebstrap", "warn", "recipes/debian.hcl does not need it")
	}

	stdout, _, code := runCLI(t, "", nil, "doctor", "recipes/busybox.hcl")
	lines = doctorLines(t, stdout)
	wantStatus(t, lines, "binfmt", "ok", runtimeArch(t)+" runs natively")
	for _, tool := range []string{"debootstrap", "mmdebstrap", "mksquashfs", "arch-test"} {
		if _, err := exec.LookPath(tool); err != nil {
			wantStatus(t, lines, tool, "warn", "recipes/busybox.hcl does not need it")
		}
	}
	if _, ok := lines["keyring"]; ok {
		t.Error("a busybox recipe has no keyring to check")
	}
	if os.Geteuid() == 0 && code != exitOK {
		t.Errorf("busybox needs no tool, yet exit %d:\n%s", code, stdout)
	}

	stdout, stderr, code := runCLI(t, "", nil, "doctor", "recipes/debian.hcl", "--var", "variant=bogus")
	if code != exitFailure || !strings.Contains(stderr, `The variant must be "default" or "cloud".`) {
		t.Errorf("invalid recipe: exit %d\n%s", code, stderr)
	}
	wantStatus(t, doctorLines(t, stdout), "recipe", "FAIL", "recipes/debian.hcl has errors", "builder validate recipes/debian.hcl")

	if _, _, code := runCLI(t, "", nil, "doctor", "a.hcl", "b.hcl"); code != exitUsage {
		t.Errorf("two recipes: exit %d, want %d", code, exitUsage)
	}
}

func runtimeArch(t *testing.T) string {
	a, err := image.HostArchitecture(runtime.GOARCH)
	if err != nil {
		t.Skipf("builder does not build for %s", runtime.GOARCH)
	}
	return a.Distribution
}

// fakeDoctorEnv is a healthy machine: root, namespaces, every tool, 100
// GiB free, binfmt_misc with a qemu-aarch64 handler, an LXD socket file
// that refuses connections and no Incus.
func fakeDoctorEnv(t *testing.T) doctorEnv {
	t.Helper()
	binfmt, root := t.TempDir(), t.TempDir()
	interp := filepath.Join(t.TempDir(), "qemu-aarch64-static")
	for path, content := range map[string]string{
		filepath.Join(binfmt, "status"):                "enabled\n",
		filepath.Join(binfmt, "qemu-aarch64"):          "enabled\ninterpreter " + interp + "\nflags: POF\n",
		interp:                                         "",
		filepath.Join(root, "var/lib/lxd/unix.socket"): "",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, content)
	}
	return doctorEnv{
		euid:            0,
		hostGOARCH:      "amd64",
		lookPath:        func(name string) (string, error) { return "/usr/bin/" + name, nil },
		stat:            func(string) (os.FileInfo, error) { return nil, nil },
		scriptsDir:      fakeScriptsDir(t),
		probeNamespaces: func(context.Context) (string, error) { return "fake", nil },
		emulation:       emulation.Emulation{BinfmtDir: binfmt, RunCompat: func(image.Architecture) error { return nil }},
		statfs: func(_ string, st *unix.Statfs_t) error {
			st.Bsize, st.Bavail = 4096, 100<<30/4096
			return nil
		},
		sockets: lxd.Finder{Root: root},
	}
}

func runFakeChecks(t *testing.T, e doctorEnv, n doctorNeeds) (map[string]string, bool) {
	t.Helper()
	var out bytes.Buffer
	var results []checkResult
	for _, c := range e.checks(n, "/work") {
		results = append(results, c(context.Background()))
	}
	failed := writeCheckResults(&out, results)
	return doctorLines(t, out.String()), failed
}

func TestDoctorChecksWithFakes(t *testing.T) {
	arm64, _ := image.LookupArchitecture("arm64")
	riscv, _ := image.LookupArchitecture("riscv64")
	debian := fakeNeeds(t, "d.hcl", arm64, &bootstrap.Config{Backend: "debootstrap", Suite: "bookworm"})

	t.Run("healthy", func(t *testing.T) {
		lines, failed := runFakeChecks(t, fakeDoctorEnv(t), doctorNeeds{})
		if failed {
			t.Error("failed")
		}
		wantStatus(t, lines, "root", "ok")
		wantStatus(t, lines, "mksquashfs", "ok", "/usr/bin/mksquashfs")
		wantStatus(t, lines, "binfmt", "ok", "native: amd64, i386; under qemu: arm64 (qemu-aarch64)")
		wantStatus(t, lines, "disk", "ok", "100.0 GiB free in /work")
		wantStatus(t, lines, "daemon", "warn", "lxd/unix.socket exists but refuses connections", "only 'builder import' needs one")
	})
	t.Run("missing tools", func(t *testing.T) {
		e := fakeDoctorEnv(t)
		e.lookPath = func(name string) (string, error) {
			if name == "debootstrap" {
				return "/usr/sbin/debootstrap", nil
			}
			return "", exec.ErrNotFound
		}
		lines, failed := runFakeChecks(t, e, doctorNeeds{})
		if !failed {
			t.Error("missing tools did not fail")
		}
		wantStatus(t, lines, "debootstrap", "ok", "/usr/sbin/debootstrap")
		wantStatus(t, lines, "mmdebstrap", "FAIL", `not found on PATH (needed for bootstrap "mmdebstrap"); fix: apt-get install mmdebstrap`)
		wantStatus(t, lines, "mksquashfs", "FAIL", "fix: apt-get install squashfs-tools")
		// Without a recipe, what only foreign architectures need warns.
		wantStatus(t, lines, "arch-test", "warn", `(only bootstrap "mmdebstrap" for a foreign architecture needs it); fix: apt-get install arch-test`)
		wantStatus(t, lines, "qemu-user-static", "warn", "no qemu-*-static emulator found", "fix: apt-get install qemu-user-static")
		// A recipe that needs only debootstrap and mksquashfs.
		lines, _ = runFakeChecks(t, e, debian)
		wantStatus(t, lines, "mmdebstrap", "warn", "(d.hcl does not need it); fix: apt-get install mmdebstrap")
		wantStatus(t, lines, "mksquashfs", "FAIL")
		wantStatus(t, lines, "qemu-aarch64-static", "FAIL", "fix: apt-get install qemu-user-static")
		wantStatus(t, lines, "binfmt", "ok", "arm64 runs under qemu-aarch64")
	})
	t.Run("tool outside PATH", func(t *testing.T) {
		e := fakeDoctorEnv(t)
		e.lookPath = func(name string) (string, error) {
			if name == "/usr/sbin/debootstrap" {
				return name, nil
			}
			return "", exec.ErrNotFound
		}
		lines, _ := runFakeChecks(t, e, doctorNeeds{})
		wantStatus(t, lines, "debootstrap", "FAIL", "not on PATH, but installed as /usr/sbin/debootstrap", "; fix: add /usr/sbin to PATH")
	})
	t.Run("disk thresholds", func(t *testing.T) {
		for _, tt := range []struct {
			free   uint64
			status string
			text   string
		}{
			{4 << 30, "ok", "4.0 GiB free"},
			{4<<30 - 4096, "warn", "fix: a Debian image needs about 4 GiB"},
			{1 << 30, "warn", "1.0 GiB free"},
			{1<<30 - 4096, "FAIL", "1024.0 MiB free"},
			{500 << 20, "FAIL", "500.0 MiB free in /work; fix: free space there"},
		} {
			e := fakeDoctorEnv(t)
			e.statfs = func(_ string, st *unix.Statfs_t) error {
				st.Bsize, st.Bavail = 4096, tt.free/4096
				return nil
			}
			lines, failed := runFakeChecks(t, e, doctorNeeds{})
			wantStatus(t, lines, "disk", tt.status, tt.text)
			if failed != (tt.status == "FAIL") {
				t.Errorf("%d bytes free: failed = %v", tt.free, failed)
			}
		}
	})
	t.Run("missing work directory measured at its parent", func(t *testing.T) {
		e := fakeDoctorEnv(t)
		var asked []string
		e.statfs = func(p string, st *unix.Statfs_t) error {
			asked = append(asked, p)
			if p != "/" {
				return unix.ENOENT
			}
			st.Bsize, st.Bavail = 4096, 100<<30/4096
			return nil
		}
		lines, _ := runFakeChecks(t, e, doctorNeeds{})
		wantStatus(t, lines, "disk", "ok", "free in /")
		if strings.Join(asked, " ") != "/work /" {
			t.Errorf("statfs asked %v", asked)
		}
	})
	t.Run("not root, no namespaces", func(t *testing.T) {
		e := fakeDoctorEnv(t)
		e.euid = 1000
		e.probeNamespaces = func(context.Context) (string, error) {
			return "unshare --mount --pid --fork true", errors.New("creating mount and PID namespaces: exit status 1: unshare: unshare failed: Operation not permitted")
		}
		lines, failed := runFakeChecks(t, e, doctorNeeds{})
		if !failed {
			t.Error("did not fail")
		}
		wantStatus(t, lines, "root", "FAIL", "running as uid 1000", "fix: run builds as root")
		wantStatus(t, lines, "namespaces", "FAIL", "Operation not permitted (tried unshare --mount --pid --fork true); fix: run as root")
		e.euid = 0
		lines, _ = runFakeChecks(t, e, doctorNeeds{})
		wantStatus(t, lines, "namespaces", "FAIL", "security.nesting=true")
	})
	t.Run("binfmt problems", func(t *testing.T) {
		e := fakeDoctorEnv(t)
		n := debian
		n.arch = &riscv
		lines, failed := runFakeChecks(t, e, n)
		if !failed {
			t.Error("missing emulator did not fail")
		}
		wantStatus(t, lines, "binfmt", "FAIL", "no binfmt_misc handler qemu-riscv64 is registered; fix: install it with 'apt-get install qemu-user-static binfmt-support'")

		writeFile(t, filepath.Join(e.emulation.BinfmtDir, "qemu-aarch64"), "enabled\ninterpreter /nonexistent/qemu\nflags: POF\n")
		lines, _ = runFakeChecks(t, e, doctorNeeds{})
		wantStatus(t, lines, "binfmt", "warn", "interpreter /nonexistent/qemu", "apt-get install --reinstall qemu-user-static")

		writeFile(t, filepath.Join(e.emulation.BinfmtDir, "qemu-aarch64"), "enabled\ninterpreter "+os.Args[0]+"\nflags: P\n")
		lines, _ = runFakeChecks(t, e, debian)
		wantStatus(t, lines, "binfmt", "warn", "without the F flag")

		os.Remove(filepath.Join(e.emulation.BinfmtDir, "qemu-aarch64"))
		lines, _ = runFakeChecks(t, e, doctorNeeds{})
		wantStatus(t, lines, "binfmt", "warn", "native: amd64, i386; no qemu handler is registered", "fix: apt-get install qemu-user-static binfmt-support")

		e.emulation.BinfmtDir = t.TempDir()
		e.emulation.RunCompat = func(image.Architecture) error { return errors.New("exec format error") }
		lines, _ = runFakeChecks(t, e, doctorNeeds{})
		wantStatus(t, lines, "binfmt", "warn", "binfmt_misc is not mounted at "+e.emulation.BinfmtDir+": only amd64 (native) can be built", "fix: mount it with 'mount -t binfmt_misc")
		lines, _ = runFakeChecks(t, e, debian)
		wantStatus(t, lines, "binfmt", "FAIL", "cannot run arm64 programs on this amd64 machine: binfmt_misc is not mounted")
	})
	t.Run("daemon", func(t *testing.T) {
		// Unix socket paths are short: not t.TempDir's long name.
		dir, err := os.MkdirTemp("", "doctor")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		ln, err := net.Listen("unix", filepath.Join(dir, "unix.socket"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		e := fakeDoctorEnv(t)
		e.sockets.LookupEnv = environLookup([]string{"INCUS_DIR=" + dir})
		lines, _ := runFakeChecks(t, e, doctorNeeds{})
		wantStatus(t, lines, "daemon", "ok", "incus at "+filepath.Join(dir, "unix.socket")+" accepts connections")
		e.sockets = lxd.Finder{Root: t.TempDir()}
		lines, _ = runFakeChecks(t, e, doctorNeeds{})
		wantStatus(t, lines, "daemon", "warn", "var/lib/lxd/unix.socket does not exist", "var/lib/incus/unix.socket does not exist", "fix: apt-get install lxd")
	})
}

func TestWriteCheckResults(t *testing.T) {
	var out bytes.Buffer
	failed := writeCheckResults(&out, []checkResult{
		{Name: "root", Status: statusOK, Detail: "running as root", Fix: "never shown"},
		{Name: "mksquashfs", Status: statusFail, Detail: "not found on PATH", Fix: "apt-get install squashfs-tools"},
		{Name: "daemon", Status: statusWarn, Detail: "none"},
	})
	want := "ok    root        running as root\n" +
		"FAIL  mksquashfs  not found on PATH; fix: apt-get install squashfs-tools\n" +
		"warn  daemon      none\n" +
		"1 check failed, 1 warning\n"
	if !failed || out.String() != want {
		t.Errorf("failed = %v, got:\n%s\nwant:\n%s", failed, out.String(), want)
	}
	out.Reset()
	if writeCheckResults(&out, []checkResult{{Name: "root", Detail: "x"}}) || !strings.HasSuffix(out.String(), "all checks passed\n") {
		t.Errorf("all ok: %q", out.String())
	}
	if got := environLookup([]string{"A=1", "B=2", "A=3"}); func() string { v, _ := got("A"); return v }() != "3" {
		t.Error("environLookup: the last value should win, as in os/exec")
	}
}
