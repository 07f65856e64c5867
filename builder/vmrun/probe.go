package vmrun

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// probeLimit bounds ProbeKVM: OVMF under KVM reaches its boot manager in
// about a second.
const probeLimit = 20 * time.Second

// probeEnd is what ends a probe: OVMF's boot manager looking for
// something to boot on the console, or qemu's report on stderr of KVM
// failing.
var probeEnd = regexp.MustCompile(`BdsDxe|KVM internal error`)

// ProbeKVM reports whether KVM can run the firmware fw. An openable
// /dev/kvm is not enough: under nested virtualisation KVM may create the
// VM and then fail on the firmware's first instructions ("KVM internal
// error ... emulation failure"), so the probe boots fw with no disk and
// waits for its boot manager. dir holds the probe's variable store.
// (internal/qemutest has the same probe for tests.)
func ProbeKVM(ctx context.Context, qemu string, fw Firmware, dir string) bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	dir, err = os.MkdirTemp(dir, "kvm-probe-")
	if err != nil {
		return false
	}
	defer os.RemoveAll(dir)
	vars, err := fw.copyVars(dir)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, probeLimit)
	defer cancel()
	args := append(fw.args(vars), commonArgs("kvm", 256, 1)...)
	cmd := exec.CommandContext(ctx, qemu, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	c := newConsole()
	cmd.Stderr = c
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return false
	}
	if err := cmd.Start(); err != nil {
		return false
	}
	go copyOut(stdout, nil, c)
	// An emulation failure pauses the VM without ending qemu: its
	// message, or the deadline, ends the probe.
	err = c.wait(ctx, probeEnd)
	cancel()
	_ = cmd.Wait()
	return err == nil && !strings.Contains(c.String(), "KVM internal error")
}
