// Package qemutest boots a VM disk image under qemu for tests: UEFI
// firmware (OVMF, with or without secure boot and Microsoft's keys), the
// disk behind a throw-away overlay so the image stays as built, the
// serial console captured to a file and searched for patterns with a
// deadline, and the boot timed. KVM is used when it works, else TCG
// (software emulation, slower but available everywhere).
//
// The qemu process belongs to the test: Boot registers its kill with
// t.Cleanup, so it ends on every exit path, failures and panics included.
package qemutest

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/testenv"
)

// Options say what to boot and how.
type Options struct {
	// Disk is the qcow2 image. It is never written: the VM writes to an
	// overlay in the test's temporary directory.
	Disk string
	// SecureBoot boots Microsoft-keys secure-boot firmware.
	SecureBoot bool
	// Accel is "kvm" or "tcg"; "" asks ProbeKVM.
	Accel string
	// MemoryMiB defaults to 1024 and CPUs to 2.
	MemoryMiB, CPUs int
	// FirmwareDir defaults to FirmwareDir.
	FirmwareDir string
	// Console is the file the serial console is written to; "" puts it in
	// the test's temporary directory. Its path is logged either way.
	Console string
	// Ports are virtio serial ports to add, by name: a VM under LXD
	// has "org.linuxcontainers.lxd", which starts its agent.
	Ports []string
	// Shares are directories to share with the guest over virtiofs.
	Shares []Share
	// Args are added to qemu's command line.
	Args []string
	// QEMU is the program; "" is qemu-system-x86_64 from PATH.
	QEMU string
}

// VM is one running qemu.
type VM struct {
	cmd     *exec.Cmd
	console *console
	stderr  testenv.SyncBuffer
	daemons []*virtiofsd  // the shares' virtiofsd, reported on failures
	done    chan struct{} // closed when qemu has exited and been reaped
	err     error         // qemu's exit, valid once done is closed
	// Started is when qemu was started: boot times count from it.
	Started time.Time
	// ConsolePath is the file holding the serial console.
	ConsolePath string
	// Accel is the accelerator the VM runs with.
	Accel string
}

// Require skips or fails t (per internal/testenv) unless qemu, qemu-img
// and the firmware Boot would use are installed. Shares need
// RequireVirtiofsd too.
func Require(t testing.TB, secureBoot bool) {
	t.Helper()
	testenv.Command(t, "qemu-system-x86_64", "qemu-system-x86")
	testenv.Command(t, "qemu-img", "qemu-utils")
	fw := OVMF(FirmwareDir, secureBoot)
	testenv.File(t, fw.Code, "ovmf")
	testenv.File(t, fw.Vars, "ovmf")
}

// RequireVirtiofsd skips or fails t unless virtiofsd is installed and
// the test runs as root, which virtiofsd needs.
func RequireVirtiofsd(t testing.TB) {
	t.Helper()
	testenv.File(t, VirtiofsdPath, "qemu-system-common")
	testenv.Root(t)
}

// Boot starts opts.Disk under qemu and returns at once; Wait finds what
// the console prints. The VM is killed when t ends, or by Stop.
func Boot(t testing.TB, opts Options) *VM {
	t.Helper()
	tmp := t.TempDir()
	fw := OVMF(cmp.Or(opts.FirmwareDir, FirmwareDir), opts.SecureBoot)
	if err := fw.Check(); err != nil {
		t.Fatal(err)
	}
	vars, err := fw.copyVars(tmp)
	if err != nil {
		t.Fatal(err)
	}
	overlay, err := Overlay(opts.Disk, tmp)
	if err != nil {
		t.Fatal(err)
	}
	accel := opts.Accel
	if accel == "" {
		accel = "tcg"
		if ProbeKVM(context.Background(), cmp.Or(opts.QEMU, "qemu-system-x86_64"), fw, tmp) {
			accel = "kvm"
		}
	}
	path := cmp.Or(opts.Console, filepath.Join(tmp, "console.log"))
	log, err := os.Create(path)
	if err != nil {
		t.Fatalf("serial console log: %v", err)
	}
	t.Cleanup(func() { log.Close() })

	args := append(fw.args(vars), commonArgs(accel, opts)...)
	args = append(args,
		// virtio-scsi, as LXD attaches an instance's root disk.
		"-device", "virtio-scsi-pci,id=scsi0",
		"-drive", "if=none,id=root,format=qcow2,file="+qemuValue(overlay),
		"-device", "scsi-hd,drive=root,bus=scsi0.0,bootindex=1",
	)
	devices, daemons := deviceArgs(t, opts.Ports, opts.Shares, cmp.Or(opts.MemoryMiB, 1024))
	args = append(append(args, devices...), opts.Args...)
	vm := &VM{console: newConsole(), done: make(chan struct{}), ConsolePath: path, Accel: accel, daemons: daemons}
	vm.cmd = exec.Command(cmp.Or(opts.QEMU, "qemu-system-x86_64"), args...)
	vm.cmd.Stderr = &vm.stderr
	// Its own process group, killed whole; and killed by the kernel
	// should the test binary die before its cleanups run.
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := vm.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("qemu: %v", err)
	}
	t.Logf("booting %s (%s, secure boot %v), console in %s", opts.Disk, accel, opts.SecureBoot, path)
	vm.Started = time.Now()
	if err := vm.cmd.Start(); err != nil {
		t.Fatalf("starting qemu: %v", err)
	}
	t.Cleanup(vm.Stop)
	copied := make(chan struct{})
	go func() {
		copyOut(stdout, log, vm.console)
		close(copied)
	}()
	go func() {
		<-copied // Wait closes stdout: read it all first
		vm.err = vm.cmd.Wait()
		close(vm.done)
	}()
	return vm
}

// commonArgs are the arguments every boot shares: accelerator, size,
// no display, the serial console on stdout, nothing else attached.
func commonArgs(accel string, opts Options) []string {
	return []string{
		"-accel", accel,
		"-m", strconv.Itoa(cmp.Or(opts.MemoryMiB, 1024)),
		"-smp", strconv.Itoa(cmp.Or(opts.CPUs, 2)),
		"-display", "none", "-monitor", "none", "-vga", "none",
		"-serial", "stdio",
		"-nic", "none",
		// Entropy, as LXD gives its VMs: without it a guest can stall
		// early in boot waiting for the random pool.
		"-device", "virtio-rng-pci",
		// A panic or reboot ends qemu, so Wait fails at once.
		"-no-reboot",
	}
}

// Wait waits up to limit for re to match the serial console and returns
// how long after Started the matching line arrived. On failure the
// error ends with the console's last lines and qemu's stderr.
func (vm *VM) Wait(re *regexp.Regexp, limit time.Duration) (time.Duration, error) {
	at, err := vm.console.wait(re, time.Now().Add(limit))
	if err != nil {
		if err == errEnded {
			<-vm.done
			err = fmt.Errorf("%w (%v)", err, vm.err)
		}
		var daemons strings.Builder
		for _, d := range vm.daemons {
			daemons.WriteString("\n" + d.report())
		}
		return 0, fmt.Errorf("waiting %v for %q on the serial console: %w\n--- console (last 40 lines of %s):\n%s\n--- qemu stderr:\n%s%s",
			limit, re, err, vm.ConsolePath, tail(vm.console.String(), 40), vm.stderr.String(), daemons.String())
	}
	return at.Sub(vm.Started), nil
}

// Console is everything the serial console printed so far.
func (vm *VM) Console() string { return vm.console.String() }

// Stop kills qemu and waits for it to exit; it may be called again.
func (vm *VM) Stop() {
	select {
	case <-vm.done:
		return
	default:
	}
	_ = syscall.Kill(-vm.cmd.Process.Pid, syscall.SIGKILL) // the group is gone if it exited meanwhile
	<-vm.done
}

// Done is closed when qemu has exited.
func (vm *VM) Done() <-chan struct{} { return vm.done }

// Overlay creates a qcow2 in dir backed by disk and returns its path:
// the VM writes there, and disk stays as built.
func Overlay(disk, dir string) (string, error) {
	abs, err := filepath.Abs(disk)
	if err != nil {
		return "", fmt.Errorf("overlay for %s: %w", disk, err)
	}
	path := filepath.Join(dir, "overlay.qcow2")
	out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", abs, path).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("qemu-img create an overlay for %s: %w: %s", disk, err, strings.TrimSpace(string(out)))
	}
	return path, nil
}

// qemuValue escapes a value inside qemu's comma-separated options.
func qemuValue(s string) string { return strings.ReplaceAll(s, ",", ",,") }
