package doctor

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/doctor/check"
	"github.com/builder-images/builder/builder/emulation"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/lxd"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeDoctorEnv is a healthy machine: root, namespaces, every tool, 100
// GiB free, binfmt_misc with a qemu-aarch64 handler, an LXD socket file
// that refuses connections and no Incus.
func fakeDoctorEnv(t *testing.T) Env {
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
	return Env{
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

// runFakeChecks runs the checks with the work directory /work, and
// returns them by name and whether one failed.
func runFakeChecks(t *testing.T, e Env, n Needs) (map[string]check.Result, bool) {
	t.Helper()
	results := e.Run(context.Background(), n, "/work")
	byName := map[string]check.Result{}
	for _, r := range results {
		if _, dup := byName[r.Name]; dup {
			t.Errorf("two %s checks", r.Name)
		}
		byName[r.Name] = r
	}
	return byName, check.Failed(results)
}

// wantStatus checks the status of the check name, and that its detail,
// followed by "; fix: " and its fix as doctor prints them, contains each
// of contains.
func wantStatus(t *testing.T, results map[string]check.Result, name, status string, contains ...string) {
	t.Helper()
	r, ok := results[name]
	if !ok {
		t.Errorf("no %s check", name)
		return
	}
	shown := r.Detail
	if r.Status != check.OK && r.Fix != "" {
		shown += "; fix: " + r.Fix
	}
	if r.Status.String() != status {
		t.Errorf("%s: want %s: %s %s", name, status, r.Status, shown)
	}
	for _, c := range contains {
		if !strings.Contains(shown, c) {
			t.Errorf("%s check lacks %q: %s", name, c, shown)
		}
	}
}

func TestDoctorChecksWithFakes(t *testing.T) {
	arm64, _ := image.LookupArchitecture("arm64")
	riscv, _ := image.LookupArchitecture("riscv64")
	debian := fakeNeeds(t, "d.hcl", arm64, &bootstrap.Config{Backend: "debootstrap", Suite: "bookworm"})

	t.Run("healthy", func(t *testing.T) {
		lines, failed := runFakeChecks(t, fakeDoctorEnv(t), Needs{})
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
		lines, failed := runFakeChecks(t, e, Needs{})
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
		wantStatus(t, lines, "sfdisk", "warn", "(d.hcl does not need it); fix: apt-get install fdisk")
	})
	t.Run("VM tools", func(t *testing.T) {
		e := fakeDoctorEnv(t)
		e.lookPath = func(name string) (string, error) {
			if name == "mke2fs" || name == "debootstrap" {
				return "/usr/sbin/" + name, nil
			}
			return "", exec.ErrNotFound
		}
		e.stat = statExcept("/usr/share/OVMF/OVMF_CODE_4M.fd")
		amd64, _ := image.LookupArchitecture("amd64")
		vm := fakeNeeds(t, "vm.hcl", amd64, &bootstrap.Config{Backend: "debootstrap", Suite: "bookworm"})
		vm.host.VM = true
		lines, _ := runFakeChecks(t, e, vm)
		wantStatus(t, lines, "mke2fs", "ok", "/usr/sbin/mke2fs")
		wantStatus(t, lines, "qemu-img", "FAIL", "(needed for a vm output: the qcow2 disk); fix: apt-get install qemu-utils")
		wantStatus(t, lines, "mcopy", "FAIL", "fix: apt-get install mtools")
		// The boot test's tools only warn, whatever the recipe.
		wantStatus(t, lines, "qemu-system-x86_64", "warn", "(the VM boot test only (make test)); fix: apt-get install qemu-system-x86")
		wantStatus(t, lines, "ovmf", "warn", "/usr/share/OVMF/OVMF_CODE_4M.fd does not exist")
		lines, _ = runFakeChecks(t, e, Needs{})
		wantStatus(t, lines, "qemu-img", "FAIL")
		wantStatus(t, lines, "qemu-system-x86_64", "warn")
	})
	t.Run("tool outside PATH", func(t *testing.T) {
		e := fakeDoctorEnv(t)
		e.lookPath = func(name string) (string, error) {
			if name == "/usr/sbin/debootstrap" {
				return name, nil
			}
			return "", exec.ErrNotFound
		}
		lines, _ := runFakeChecks(t, e, Needs{})
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
			lines, failed := runFakeChecks(t, e, Needs{})
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
		lines, _ := runFakeChecks(t, e, Needs{})
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
		lines, failed := runFakeChecks(t, e, Needs{})
		if !failed {
			t.Error("did not fail")
		}
		wantStatus(t, lines, "root", "FAIL", "running as uid 1000", "fix: run builds as root")
		wantStatus(t, lines, "namespaces", "FAIL", "Operation not permitted (tried unshare --mount --pid --fork true); fix: run as root")
		e.euid = 0
		lines, _ = runFakeChecks(t, e, Needs{})
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
		lines, _ = runFakeChecks(t, e, Needs{})
		wantStatus(t, lines, "binfmt", "warn", "interpreter /nonexistent/qemu", "apt-get install --reinstall qemu-user-static")

		writeFile(t, filepath.Join(e.emulation.BinfmtDir, "qemu-aarch64"), "enabled\ninterpreter "+os.Args[0]+"\nflags: P\n")
		lines, _ = runFakeChecks(t, e, debian)
		wantStatus(t, lines, "binfmt", "warn", "without the F flag")

		os.Remove(filepath.Join(e.emulation.BinfmtDir, "qemu-aarch64"))
		lines, _ = runFakeChecks(t, e, Needs{})
		wantStatus(t, lines, "binfmt", "warn", "native: amd64, i386; no qemu handler is registered", "fix: apt-get install qemu-user-static binfmt-support")

		e.emulation.BinfmtDir = t.TempDir()
		e.emulation.RunCompat = func(image.Architecture) error { return errors.New("exec format error") }
		lines, _ = runFakeChecks(t, e, Needs{})
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
		e.sockets.LookupEnv = func(name string) (string, bool) {
			if name == "INCUS_DIR" {
				return dir, true
			}
			return "", false
		}
		lines, _ := runFakeChecks(t, e, Needs{})
		wantStatus(t, lines, "daemon", "ok", "incus at "+filepath.Join(dir, "unix.socket")+" accepts connections")

		// The daemon's own answer names it, its version and its
		// drivers; an $INCUS_DIR whose daemon is LXD says so.
		e.server = func(_ context.Context, s lxd.Socket) (daemonInfo, error) {
			return daemonInfo{Server: lxd.Server{Daemon: lxd.Incus, Version: "6.0.4"}, Drivers: "lxc | qemu"}, nil
		}
		lines, _ = runFakeChecks(t, e, Needs{})
		wantStatus(t, lines, "daemon", "ok", "incus 6.0.4 at "+filepath.Join(dir, "unix.socket")+" (drivers lxc | qemu) accepts connections")
		if strings.Contains(lines["daemon"].Detail, "none runs VMs") {
			t.Errorf("a daemon with the qemu driver: %s", lines["daemon"].Detail)
		}
		e.server = func(_ context.Context, s lxd.Socket) (daemonInfo, error) {
			return daemonInfo{Server: lxd.Server{Daemon: lxd.Incus, Version: "6.0.4"}, Drivers: "lxc"}, nil
		}
		lines, _ = runFakeChecks(t, e, Needs{})
		wantStatus(t, lines, "daemon", "ok", "(drivers lxc) accepts connections; none runs VMs (no qemu driver): builder test boots VM images under qemu")
		e.server = func(_ context.Context, s lxd.Socket) (daemonInfo, error) {
			return daemonInfo{Server: lxd.Server{Daemon: lxd.LXD, Version: "5.0.2"}}, errors.New("does not trust this client")
		}
		lines, _ = runFakeChecks(t, e, Needs{})
		wantStatus(t, lines, "daemon", "ok", "lxd 5.0.2 at "+filepath.Join(dir, "unix.socket")+" (does not trust this client)")
		e.server = func(_ context.Context, s lxd.Socket) (daemonInfo, error) {
			return daemonInfo{}, errors.New("EOF")
		}
		lines, _ = runFakeChecks(t, e, Needs{})
		wantStatus(t, lines, "daemon", "ok", "incus at "+filepath.Join(dir, "unix.socket")+" (version unknown: EOF)")
		e.sockets = lxd.Finder{Root: t.TempDir()}
		lines, _ = runFakeChecks(t, e, Needs{})
		wantStatus(t, lines, "daemon", "warn", "var/lib/lxd/unix.socket does not exist", "var/lib/incus/unix.socket does not exist", "fix: apt-get install lxd", "incus-base and incus-client")
	})
}
