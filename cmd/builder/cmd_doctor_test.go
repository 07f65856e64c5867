package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/doctor"
	"github.com/builder-images/builder/builder/doctor/check"
	"github.com/builder-images/builder/builder/emulation"
	"github.com/builder-images/builder/builder/image"
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
	for _, tool := range doctor.HostTools() {
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
	if want := 5 + len(doctor.HostTools()); len(lines) != want {
		t.Errorf("%d check lines, want %d", len(lines), want)
	}
}

// TestDoctorWithRecipe checks that a recipe narrows what is required and
// what architecture is checked.
func TestDoctorWithRecipe(t *testing.T) {
	repoRoot(t)
	stdout, _, _ := runCLI(t, "", nil, "doctor", "recipes/debian.hcl", "--var", "architecture=arm64", "--work-dir", "out/does/not/exist/yet")
	lines := doctorLines(t, stdout)
	wantStatus(t, lines, "recipe", "ok", "recipes/debian.hcl: arm64, debootstrap bootstrap, split squashfs output; needs debootstrap, mksquashfs, sfdisk, mke2fs, debugfs, mkfs.vfat, mcopy, qemu-img, qemu-aarch64-static, update-binfmts, the binfmt handler qemu-aarch64")
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

func TestWriteCheckResults(t *testing.T) {
	var out bytes.Buffer
	failed := writeCheckResults(&out, []check.Result{
		{Name: "root", Status: check.OK, Detail: "running as root", Fix: "never shown"},
		{Name: "mksquashfs", Status: check.Fail, Detail: "not found on PATH", Fix: "apt-get install squashfs-tools"},
		{Name: "daemon", Status: check.Warn, Detail: "none"},
	})
	want := "ok    root        running as root\n" +
		"FAIL  mksquashfs  not found on PATH; fix: apt-get install squashfs-tools\n" +
		"warn  daemon      none\n" +
		"1 check failed, 1 warning\n"
	if !failed || out.String() != want {
		t.Errorf("failed = %v, got:\n%s\nwant:\n%s", failed, out.String(), want)
	}
	out.Reset()
	if writeCheckResults(&out, []check.Result{{Name: "root", Detail: "x"}}) || !strings.HasSuffix(out.String(), "all checks passed\n") {
		t.Errorf("all ok: %q", out.String())
	}
	if got := environLookup([]string{"A=1", "B=2", "A=3"}); func() string { v, _ := got("A"); return v }() != "3" {
		t.Error("environLookup: the last value should win, as in os/exec")
	}
}

const ubuntuKeyring = "/usr/share/keyrings/ubuntu-archive-keyring.gpg"

// TestDoctorUbuntuRecipeHere runs doctor on the shipped Ubuntu recipe
// and checks its verdicts against this machine's files.
func TestDoctorUbuntuRecipeHere(t *testing.T) {
	repoRoot(t)
	stdout, _, code := runCLI(t, "", nil, "doctor", "recipes/ubuntu.hcl")
	lines := doctorLines(t, stdout)
	if _, err := os.Stat(ubuntuKeyring); err == nil {
		wantStatus(t, lines, "keyring", "ok", ubuntuKeyring+", pinned to 1 key")
	} else {
		wantStatus(t, lines, "keyring", "FAIL", ubuntuKeyring+", does not exist", "--var keyring=https://")
		if code != exitFailure {
			t.Errorf("exit %d with the keyring missing", code)
		}
	}
	switch _, err := os.Stat(filepath.Join(bootstrap.DebootstrapScripts, "noble")); {
	case err == nil:
		wantStatus(t, lines, "script", "ok", filepath.Join(bootstrap.DebootstrapScripts, "noble"))
	case runtime.GOOS == "linux":
		if _, err := os.Stat(filepath.Join(bootstrap.DebootstrapScripts, "gutsy")); err == nil {
			wantStatus(t, lines, "script", "ok", "no script for noble; builder runs it with "+filepath.Join(bootstrap.DebootstrapScripts, "gutsy"))
		}
	}
	stdout, _, _ = runCLI(t, "", nil, "doctor", "recipes/ubuntu.hcl", "--var", "keyring=https://archive.example/ubuntu/project/ubuntu-archive-keyring.gpg")
	wantStatus(t, doctorLines(t, stdout), "keyring", "ok", "fetched from https://archive.example/ubuntu/project/ubuntu-archive-keyring.gpg at build time, pinned to 1 key")
}
