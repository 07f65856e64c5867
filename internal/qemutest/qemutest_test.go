package qemutest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestConsoleTimesTheMatchByArrival(t *testing.T) {
	c := newConsole()
	_, _ = c.Write([]byte("BdsDxe: loading\r\n"))
	time.Sleep(30 * time.Millisecond)
	_, _ = c.Write([]byte("localhost login: "))
	afterLogin := time.Now()
	time.Sleep(30 * time.Millisecond)
	_, _ = c.Write([]byte("\r\nmore"))

	// Asked late, the match is still timed by its own arrival.
	at, err := c.wait(regexp.MustCompile(`login: `), time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if at.After(afterLogin) {
		t.Errorf("match timed at %v, after the line arrived (%v)", at, afterLogin)
	}
	first, _ := c.wait(regexp.MustCompile(`BdsDxe`), time.Now().Add(time.Second))
	if !first.Before(at) {
		t.Errorf("the first line's time %v is not before the second's %v", first, at)
	}
}

func TestConsoleWaitsForLaterOutput(t *testing.T) {
	c := newConsole()
	go func() {
		time.Sleep(50 * time.Millisecond)
		_, _ = c.Write([]byte("Reached target multi-user.target"))
	}()
	if _, err := c.wait(regexp.MustCompile(`multi-user`), time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := c.wait(regexp.MustCompile(`never`), time.Now().Add(100*time.Millisecond))
	if err == nil || time.Since(start) < 100*time.Millisecond {
		t.Errorf("a pattern that never comes: %v after %v, want a timeout at the deadline", err, time.Since(start))
	}
	c.end()
	if _, err := c.wait(regexp.MustCompile(`never`), time.Now().Add(time.Hour)); err != errEnded {
		t.Errorf("after the end: %v, want %v at once", err, errEnded)
	}
}

func TestFirmwareArgs(t *testing.T) {
	plain := OVMF("/fw", false).args("/tmp/a,b/vars.fd")
	if !slices.Contains(plain, "if=pflash,format=raw,unit=0,readonly=on,file=/fw/OVMF_CODE_4M.fd") ||
		!slices.Contains(plain, "if=pflash,format=raw,unit=1,file=/tmp/a,,b/vars.fd") {
		t.Errorf("plain firmware: %q (the vars path's comma must be doubled)", plain)
	}
	if slices.Contains(plain, "q35,smm=on") || strings.Contains(strings.Join(plain, " "), "secure") {
		t.Errorf("plain firmware with secure-boot settings: %q", plain)
	}
	sb := OVMF("/fw", true)
	if sb.Code != "/fw/OVMF_CODE_4M.ms.fd" || sb.Vars != "/fw/OVMF_VARS_4M.ms.fd" {
		t.Errorf("secure boot firmware: %+v", sb)
	}
	args := strings.Join(sb.args("/v"), " ")
	for _, want := range []string{"-machine q35,smm=on", "-global driver=cfi.pflash01,property=secure,value=on"} {
		if !strings.Contains(args, want) {
			t.Errorf("secure boot arguments %q lack %q", args, want)
		}
	}
}

// fakeQEMU is a stand-in qemu: it prints a console line, then sleeps
// (a boot that hangs), writing its pid where the test can find it.
func fakeQEMU(t *testing.T) (program, pidFile string) {
	dir := t.TempDir()
	pidFile = filepath.Join(dir, "pid")
	program = filepath.Join(dir, "qemu")
	script := "#!/bin/sh\necho $$ > " + pidFile + "\nprintf 'BdsDxe: booting\\r\\nlocalhost login: '\nexec sleep 600\n"
	if err := os.WriteFile(program, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return program, pidFile
}

// TestBootKillsQEMUAtCleanup runs a fake qemu in a subtest and checks it
// is gone once the subtest, which fails, has ended.
func TestBootKillsQEMUAtCleanup(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("needs qemu-img for the overlay")
	}
	disk := filepath.Join(t.TempDir(), "disk.qcow2")
	if out, err := runQemuImg("create", "-q", "-f", "qcow2", disk, "16M"); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	fw := t.TempDir()
	for _, f := range []string{"OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"} {
		if err := os.WriteFile(filepath.Join(fw, f), []byte("firmware"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	program, pidFile := fakeQEMU(t)
	var pid int
	t.Run("boot", func(t *testing.T) {
		vm := Boot(t, Options{Disk: disk, Accel: "tcg", FirmwareDir: fw, QEMU: program})
		took, err := vm.Wait(regexp.MustCompile(`login: `), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if took <= 0 || took > 10*time.Second {
			t.Errorf("boot time %v", took)
		}
		if _, err := vm.Wait(regexp.MustCompile(`never printed`), 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "localhost login:") {
			t.Errorf("a timeout's error should carry the console's tail: %v", err)
		}
		b, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		pid = atoi(t, strings.TrimSpace(string(b)))
		log, _ := os.ReadFile(vm.ConsolePath)
		if !strings.Contains(string(log), "BdsDxe: booting") {
			t.Errorf("console log %s holds %q", vm.ConsolePath, log)
		}
	})
	if pid == 0 {
		t.Fatal("the fake qemu never ran")
	}
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Errorf("qemu (pid %d) outlived its test: kill 0 says %v", pid, err)
	}
}

func TestBootLeavesTheImageAlone(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("needs qemu-img")
	}
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.qcow2")
	if out, err := runQemuImg("create", "-q", "-f", "qcow2", disk, "16M"); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	overlay, err := Overlay(disk, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out, err := runQemuImg("info", overlay)
	if err != nil || !strings.Contains(out, "backing file: "+disk) {
		t.Errorf("qemu-img info %s: %v\n%s", overlay, err, out)
	}
}

func runQemuImg(args ...string) (string, error) {
	out, err := exec.Command("qemu-img", args...).CombinedOutput()
	return string(out), err
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}
