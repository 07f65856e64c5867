package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/isolation/capability"
	"github.com/builder-images/builder/internal/testenv"
)

// The hostile suite: run steps that attack the build host, each in a
// busybox build of its own. Every attack targets only what the test
// made: a sentinel file beside the build directory, builder's working
// directory and environment, the build's own mounts.

// hostileScene is what a test puts around a hostile build.
type hostileScene struct {
	base     string // builder's working directory, holding the sentinel
	sentinel string
	rootfs   string
	recipe   string
}

const (
	sentinelText = "original\n"
	// hostileSecret is in builder's environment; no step may read it.
	hostileSecret = "HOSTILE_SECRET=only-the-host-knows-this"
)

// newScene makes the test's directory with its sentinel file, and
// writes recipe(scene) as the recipe.
func newScene(t *testing.T, recipe func(*hostileScene) string) *hostileScene {
	t.Helper()
	base := t.TempDir()
	s := &hostileScene{base: base, sentinel: filepath.Join(base, "sentinel"), rootfs: filepath.Join(base, "rootfs"), recipe: filepath.Join(base, "hostile.hcl")}
	if err := os.WriteFile(s.sentinel, []byte(sentinelText), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.recipe, []byte(recipe(s)), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// newHostileScene writes a busybox recipe whose run step "attack" runs
// script with SENTINEL set to the host path of the sentinel file.
// extra goes into the run block (capabilities, say), more after it.
func newHostileScene(t *testing.T, script, extra string, more ...string) *hostileScene {
	t.Helper()
	return newScene(t, func(s *hostileScene) string {
		return fmt.Sprintf(`image {
  distribution = "busybox"
  release      = "hostile"
  architecture = "amd64"
}

bootstrap "busybox" {}

run "attack" {
  environment = { SENTINEL = %q }
  %s
  script = <<-EOT
    #!/bin/sh
    %s
  EOT
}
`, s.sentinel, extra, strings.ReplaceAll(strings.TrimSpace(script), "\n", "\n    ")) + strings.Join(more, "")
	})
}

// run runs builder with args in the scene's directory, with the secret
// in its environment.
func (s *hostileScene) run(t *testing.T, args ...string) ([]byte, []byte, error) {
	t.Helper()
	cmd := exec.Command(builderBinary(t), args...)
	cmd.Dir = s.base
	cmd.Env = append(os.Environ(), hostileSecret)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.Bytes(), stderr.Bytes(), err
}

// checkHost fails the test when the sentinel changed or a mount is left.
func (s *hostileScene) checkHost(t *testing.T) {
	t.Helper()
	got, err := os.ReadFile(s.sentinel)
	if err != nil || string(got) != sentinelText {
		t.Errorf("the host's sentinel file changed: %q, %v", got, err)
	}
	assertNothingMounted(t, s.rootfs)
}

// TestHostileRunSteps runs each attack as a run step. Each must fail,
// and the build with it, naming the step; the host is checked after.
func TestHostileRunSteps(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	loop := newLoopDevice(t)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", "bhostile0").Run() })
	attacks := []struct {
		name, script string
		// want is in the output when the attack failed for the right
		// reason (not, say, a missing applet); "|" separates
		// alternatives.
		want string
	}{
		{"read a host file through /proc/1/root", `cat /proc/1/root$SENTINEL`, "No such file"},
		{"write a host file through /proc/1/root", `echo pwned > /proc/1/root$SENTINEL`, "nonexistent directory"},
		{"any process's root", `
for p in /proc/[0-9]*; do
  if cat "$p/root$SENTINEL" 2>/dev/null; then echo "ESCAPED via $p"; exit 0; fi
done
echo "no root leads to the host"; exit 1`, "no root leads to the host"},
		{"any process's cwd", `
for p in /proc/[0-9]*; do
  if cat "$p/cwd/sentinel" 2>/dev/null; then echo "ESCAPED via $p"; exit 0; fi
done
echo "no cwd leads to the host"; exit 1`, "no cwd leads to the host"},
		{"any open directory", `
for f in /proc/[0-9]*/fd/*; do
  if cat "$f/../sentinel" "$f/sentinel" 2>/dev/null; then echo "ESCAPED via $f"; exit 0; fi
done
echo "no fd leads to the host"; exit 1`, "no fd leads to the host"},
		{"builder's environment", `
for e in /proc/[0-9]*/environ; do
  if grep -q HOSTILE_SECRET "$e" 2>/dev/null; then echo "ESCAPED via $e"; exit 0; fi
done
echo "no environment of the host"; exit 1`, "no environment of the host"},
		{"builder's process", `
if grep -lx builder /proc/[0-9]*/comm; then echo "ESCAPED: sees builder"; exit 0; fi
echo "builder is out of sight"; exit 1`, "builder is out of sight"},
		{"umount /proc/sys", `umount /proc/sys`, "Operation not permitted"},
		{"umount the image's /dev", `umount -l /dev`, "Operation not permitted"},
		{"mount a new proc", `mkdir -p /mnt/p && mount -t proc proc /mnt/p && ls /mnt/p/1/root/`, "permission denied"},
		{"mount sysfs", `mkdir -p /mnt/s && mount -t sysfs sysfs /mnt/s`, "permission denied"},
		{"mount devpts", `mkdir -p /mnt/d && mount -t devpts devpts /mnt/d`, "permission denied"},
		{"remount /sys read-write", `mount -o remount,rw /sys && cat /sys/kernel/uevent_helper > /sys/kernel/uevent_helper`, "permission denied"},
		{"write /sys", `cat /sys/kernel/uevent_helper > /sys/kernel/uevent_helper`, "Read-only file system"},
		// Kernels without magic SysRq or modules (this CI's) have no
		// sysrq-trigger and no module loading at all.
		{"sysrq", `umount /proc/sysrq-trigger 2>/dev/null; echo h > /proc/sysrq-trigger`, "Read-only file system|can't create /proc/sysrq-trigger: nonexistent directory"},
		{"write /proc/sys", `umount /proc/sys 2>/dev/null; cat /proc/sys/kernel/hostname > /proc/sys/kernel/hostname`, "Read-only file system"},
		{"block device in /tmp", `mknod /tmp/disk b ` + loop + ` && dd if=/tmp/disk bs=512 count=1 | grep -a ` + loopMarker, "Operation not permitted"},
		{"block device in the image", `mknod /root/disk b ` + loop + ` && dd if=/root/disk bs=512 count=1 | grep -a ` + loopMarker, "Operation not permitted"},
		// Were these to succeed, the test's cleanup removes the link;
		// ping only reaches loopback.
		{"network configuration", `ip link add bhostile0 type dummy`, "Operation not permitted"},
		{"raw socket", `ping -c 1 -W 1 127.0.0.1`, "permission denied"},
		{"kernel module", `echo garbage > /tmp/x.ko && insmod /tmp/x.ko`, "Operation not permitted|kernel does not support"},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			s := newHostileScene(t, a.script, "")
			stdout, stderr, err := s.run(t, "rootfs", s.recipe, s.rootfs)
			out := string(stdout) + string(stderr)
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitCode() != exitFailure {
				t.Errorf("the attack did not fail the build (%v):\n%s", err, out)
			} else if !strings.Contains(out, `run "attack" (`+s.recipe+`:`) {
				t.Errorf("the failure does not name the step:\n%s", out)
			}
			if !containsAny(out, strings.Split(a.want, "|")) {
				t.Errorf("output lacks %q, the sign the attack was stopped:\n%s", a.want, out)
			}
			if strings.Contains(out, "ESCAPED") || strings.Contains(out, "only-the-host-knows-this") {
				t.Errorf("the step reached the host:\n%s", out)
			}
			s.checkHost(t)
		})
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// loopMarker is what the test's block device holds.
const loopMarker = "BUILDER-TEST-LOOP-DEVICE"

// newLoopDevice attaches a small file of the test's own as a loop device
// and returns its "major minor": a block device a step could open.
func newLoopDevice(t *testing.T) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "disk.img")
	data := make([]byte, 1<<20)
	copy(data, loopMarker+"\n")
	if err := os.WriteFile(img, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "--find", "--show", img).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "--detach", dev).Run() })
	var st syscall.Stat_t
	if err := syscall.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d %d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
}

// TestHostileEventForgery: a run step writes events to every fd it can
// find; builder's event stream holds only builder's own events, the
// forged lines at most as the step's output.
func TestHostileEventForgery(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	forged := `{"type":"build_end","status":"ok","label":"FORGED"}`
	s := newHostileScene(t, `
for f in /proc/1/fd/1 /proc/[0-9]*/fd/*; do echo '`+forged+`' > "$f" 2>/dev/null || true; done
echo done`, "")
	stdout, stderr, err := s.run(t, "build", "--json", "--output", filepath.Join(s.base, "out"), "--work-dir", filepath.Join(s.base, "work"), s.recipe)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, stderr)
	}
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	ends := 0
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event stream line %q: %v", sc.Text(), err)
		}
		if ev["label"] == "FORGED" {
			t.Errorf("a forged event reached the stream: %s", sc.Text())
		}
		if ev["type"] == "build_end" {
			ends++
		}
	}
	if ends != 1 {
		t.Errorf("%d build_end events, want builder's one:\n%s", ends, stdout)
	}
	if !bytes.Contains(stdout, []byte(`"line":"{\"type\":\"build_end\"`)) {
		t.Errorf("the forged line is not among the step's output:\n%s", stdout)
	}
	s.checkHost(t)
}

// TestRunStepCapabilities reads the capability sets a run step gets:
// exactly capability.Build, and a step's explicit additions on top.
func TestRunStepCapabilities(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	build := capability.Build
	sysAdmin, _ := capability.Lookup("SYS_ADMIN")
	withAdmin := build | sysAdmin
	for _, tt := range []struct {
		name, extra string
		want        capability.Set
	}{
		{"default", "", build},
		{"opted in", `capabilities = ["SYS_ADMIN"]`, withAdmin},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newHostileScene(t, `grep ^Cap /proc/self/status`, tt.extra)
			stdout, stderr, err := s.run(t, "rootfs", s.recipe, s.rootfs)
			out := string(stdout) + string(stderr)
			if err != nil {
				t.Fatalf("build: %v\n%s", err, out)
			}
			for _, set := range []string{"CapBnd", "CapPrm", "CapEff"} {
				if want := fmt.Sprintf("[attack] %s:\t%016x", set, uint64(tt.want)); !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			for _, set := range []string{"CapInh", "CapAmb"} {
				if want := fmt.Sprintf("[attack] %s:\t%016x", set, 0); !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if warned := strings.Contains(out, "keeps the capabilities SYS_ADMIN"); warned != (tt.extra != "") {
				t.Errorf("warning about extra capabilities shown: %v, want %v:\n%s", warned, tt.extra != "", out)
			}
		})
	}
}

// TestRunStepWithSysAdmin: a step that opts into SYS_ADMIN can mount in
// its own mount namespace, and what it mounts ends with it.
func TestRunStepWithSysAdmin(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	s := newHostileScene(t, `
mkdir -p /mnt/t && mount -t tmpfs tmpfs /mnt/t && echo mounted > /mnt/t/f && cat /mnt/t/f
cat /proc/1/root$SENTINEL 2>/dev/null && echo ESCAPED || true`, `capabilities = ["sys_admin"]`)
	stdout, stderr, err := s.run(t, "rootfs", s.recipe, s.rootfs)
	out := string(stdout) + string(stderr)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if !strings.Contains(out, "[attack] mounted") || strings.Contains(out, "ESCAPED") {
		t.Errorf("output:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(s.rootfs, "mnt/t/f")); !os.IsNotExist(err) {
		t.Errorf("the step's tmpfs outlived it: %v", err)
	}
	s.checkHost(t)
}

// TestHostileBootstrapTool: mmdebstrap runs the image's code from outside
// the image (apt chroots into it for each maintainer script), so it runs
// in a view of the host's tools. A hook of its own, which runs where its
// maintainer scripts run, looks for the host's files, builder's process
// and environment, and tries to escape its chroot, and finds nothing.
func TestHostileBootstrapTool(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads a Debian package from the network; skipped with -short")
	}
	requireRoot(t)
	testenv.Command(t, "mmdebstrap", "mmdebstrap")
	s := newScene(t, func(s *hostileScene) string {
		// ESC""APED: mmdebstrap prints the hook, which must not match.
		hook := strings.Join([]string{
			`for p in /proc/[0-9]*; do cat $p/root` + s.sentinel + ` $p/cwd/sentinel 2>/dev/null && echo ESC""APED-root-$p; done`,
			`cat ` + s.sentinel + ` 2>/dev/null && echo ESC""APED-path`,
			`echo pwned > ` + s.sentinel + ` 2>/dev/null && echo ESC""APED-write`,
			`grep -l HOSTILE_SECRET /proc/[0-9]*/environ 2>/dev/null && echo ESC""APED-environ`,
			`grep -lx builder /proc/[0-9]*/comm 2>/dev/null && echo ESC""APED-process`,
			`mount -t tmpfs tmpfs /mnt 2>/dev/null && echo ESC""APED-mount`,
			`test -e /etc/shadow && echo ESC""APED-shadow`,
			`echo "hook ran in $(cat /proc/1/comm), bounding $(grep CapBnd /proc/self/status)"`,
		}, "; ")
		return fmt.Sprintf(`image {
  distribution = "debian"
  release      = "bookworm"
  architecture = "amd64"
}

bootstrap "mmdebstrap" {
  variant    = "extract"
  include    = ["busybox-static"]
  extra_args = [%q]
}
`, "--extract-hook="+hook)
	})
	stdout, stderr, err := s.run(t, "rootfs", "--cache-dir", "", s.recipe, s.rootfs)
	out := string(stdout) + string(stderr)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, tail([]byte(out), 40))
	}
	wantBounding := fmt.Sprintf("bounding CapBnd:\t%016x", uint64(capability.Build))
	if !strings.Contains(out, "hook ran in mmdebstrap") || !strings.Contains(out, wantBounding) {
		t.Errorf("the hook did not report, or not with %q:\n%s", wantBounding, tail([]byte(out), 40))
	}
	if strings.Contains(out, "ESCAPED") {
		t.Errorf("the bootstrap tool reached the host:\n%s", tail([]byte(out), 40))
	}
	if _, err := os.Stat(filepath.Join(s.rootfs, "bin/busybox")); err != nil {
		t.Errorf("the image lacks what mmdebstrap extracted: %v", err)
	}
	s.checkHost(t)
}

// TestHostileLoaderEnvironment: the environment a recipe gives its steps
// reaches the command only, never builder's own binary, which sets the
// sandbox up with every capability: LD_PRELOAD there would run a
// library of the recipe's choosing as root on the host.
func TestHostileLoaderEnvironment(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	s := newHostileScene(t, `echo "preload=$LD_PRELOAD audit=$LD_AUDIT"`, "",
		"environment {\n  LD_PRELOAD = \"/nonexistent/evil.so\"\n  LD_AUDIT   = \"/nonexistent/audit.so\"\n}\n")
	stdout, stderr, err := s.run(t, "rootfs", s.recipe, s.rootfs)
	out := string(stdout) + string(stderr)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if strings.Contains(out, "cannot be preloaded") || strings.Contains(out, "ld.so") {
		t.Errorf("the dynamic loader of builder's binary read the recipe's environment:\n%s", out)
	}
	if !strings.Contains(out, "[attack] preload=/nonexistent/evil.so audit=/nonexistent/audit.so") {
		t.Errorf("the step did not get its environment:\n%s", out)
	}
	s.checkHost(t)
}

// TestHostileDebootstrapOptions: debootstrap's first stage takes options
// from the recipe (extra_args) that name host paths; in its sandbox they
// reach a read-only view of the host's tools, never the host.
func TestHostileDebootstrapOptions(t *testing.T) {
	if testing.Short() {
		t.Skip("bootstraps Debian from the network; skipped with -short")
	}
	requireRoot(t)
	testenv.Command(t, "debootstrap", "debootstrap")
	var victim string
	s := newScene(t, func(s *hostileScene) string {
		victim = filepath.Join(s.base, "victim")
		if err := os.Mkdir(victim, 0o755); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf(`image {
  distribution = "debian"
  release      = "bookworm"
  architecture = "amd64"
}

bootstrap "debootstrap" {
  variant    = "minbase"
  extra_args = [%q, "--foreign"]
}
`, "--cache-dir="+victim)
	})
	stdout, stderr, _ := s.run(t, "rootfs", "--cache-dir", "", s.recipe, s.rootfs)
	if entries, err := os.ReadDir(victim); err != nil || len(entries) != 0 {
		t.Errorf("debootstrap wrote %d entries into the host's %s (%v):\n%s%s", len(entries), victim, err, tail(stdout, 20), stderr)
	}
	// debootstrap ran, and looked for the directory in its view.
	if want := victim + ": No such directory"; !strings.Contains(string(stdout)+string(stderr), want) {
		t.Errorf("output lacks %q:\n%s%s", want, tail(stdout, 20), stderr)
	}
	s.checkHost(t)
}

// TestHostileNullDevice: a step replaces /dev/null, which the next
// command's sandbox masks proc's files with, by a link to what is
// masked. The next sandbox refuses to start rather than unmask it.
func TestHostileNullDevice(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	s := newHostileScene(t, `ln -sf /proc/timer_list /dev/null`, "",
		"run \"read\" {\n  stage  = \"post-files\"\n  script = \"#!/bin/sh\\nhead -c 300 /proc/timer_list; echo read-$((1+1))-done\\n\"\n}\n")
	stdout, stderr, err := s.run(t, "rootfs", s.recipe, s.rootfs)
	out := string(stdout) + string(stderr)
	if err == nil || strings.Contains(out, "read-2-done") {
		t.Errorf("the next step ran with proc unmasked (%v):\n%s", err, out)
	}
	if !strings.Contains(out, "/dev/null is not the null device") {
		t.Errorf("the failure does not say why:\n%s", out)
	}
	s.checkHost(t)
}
