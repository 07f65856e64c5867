package qemu

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/imagetest"
)

// checkLog logs each check as it ends.
type checkLog struct {
	t  *testing.T
	mu sync.Mutex
}

func (l *checkLog) Emit(e events.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.Type == events.Check {
		l.t.Logf("[%s] %s %s (%.1fs) %s", e.Configuration, e.Check, e.Status, e.Duration, e.Detail)
	}
}

// checkedBackend is the qemu backend with the assertions of the former
// TestBackendBootsDebianVM added to what builder test's runner checks:
// each instance, just before the runner stops it (its checks done),
// must answer them. It records which configurations they ran in.
type checkedBackend struct {
	*Backend
	t       *testing.T
	mu      sync.Mutex
	checked map[string]bool
}

func (b *checkedBackend) Launch(ctx context.Context, spec imagetest.LaunchSpec) (imagetest.Instance, error) {
	if props, err := b.Backend.Properties(ctx); err != nil || props["os"] != "debian" {
		b.t.Errorf("properties %v, %v; want os=debian", props, err)
	}
	inst, err := b.Backend.Launch(ctx, spec)
	if err != nil {
		return inst, err
	}
	return &checkedInstance{Instance: inst, b: b, spec: spec}, nil
}

func (b *checkedBackend) Delete(ctx context.Context, inst imagetest.Instance) error {
	if c, ok := inst.(*checkedInstance); ok {
		inst = c.Instance
	}
	return b.Backend.Delete(ctx, inst)
}

type checkedInstance struct {
	imagetest.Instance
	b    *checkedBackend
	spec imagetest.LaunchSpec
}

// Stop checks what the runner does not, then stops: echo's output, the
// root file system on sda2 (the config drive is on another bus), the
// hostname command, the NIC named enp5s0 with an address (and without
// a NIC no address at all), a file pushed into /run running as root
// through sh (the VM's /run is noexec: the initramfs mounts it so).
func (i *checkedInstance) Stop(ctx context.Context, timeout time.Duration) error {
	t, config := i.b.t, i.spec.Config.Name
	run := func(argv ...string) imagetest.ExecResult {
		res, err := i.Exec(ctx, argv)
		if err != nil {
			t.Errorf("[%s] %q: %v", config, argv, err)
		}
		return res
	}
	if res := run("echo", "hello"); res.Stdout != "hello\n" {
		t.Errorf("[%s] echo: %+v", config, res)
	}
	if res := run("findmnt", "-n", "-o", "SOURCE", "/"); strings.TrimSpace(res.Stdout) != "/dev/sda2" {
		t.Errorf("[%s] the root file system is on %q, want /dev/sda2", config, res.Stdout)
	}
	if res := run("hostname"); strings.TrimSpace(res.Stdout) != i.spec.Name {
		t.Errorf("[%s] hostname prints %q, want %q", config, res.Stdout, i.spec.Name)
	}
	addrs, err := i.Addresses(ctx)
	if i.spec.Config.NIC {
		if err != nil || len(addrs) == 0 {
			t.Errorf("[%s] no global IPv4 address (%v); ip addr:\n%s", config, err, run("ip", "addr").Stdout)
		}
		if res := run("ip", "-o", "link", "show", "enp5s0"); res.ExitStatus != 0 {
			t.Errorf("[%s] the NIC is not enp5s0: %s%s", config, res.Stderr, run("ip", "-o", "link").Stdout)
		}
	} else if err != nil || len(addrs) > 0 {
		t.Errorf("[%s] addresses without a NIC: %q, %v", config, addrs, err)
	}
	if err := i.PushFile(ctx, "/run/builder-test/hi", []byte("#!/bin/sh\necho hi from $(id -un)\n"), 0o700); err != nil {
		t.Errorf("[%s] push: %v", config, err)
	} else if res := run("sh", "/run/builder-test/hi"); res.Stdout != "hi from root\n" {
		t.Errorf("[%s] the pushed script: %+v", config, res)
	}
	i.b.mu.Lock()
	i.b.checked[config] = true
	i.b.mu.Unlock()
	return i.Instance.Stop(ctx, timeout)
}

// TestRunDebianVM runs builder test's runner with the qemu backend over
// the Debian VM image: every check of the vm and vm-nic configurations
// passes (the recipe's test blocks for VMs included), so do
// checkedInstance's, and nothing of the backend's is left. It boots the
// image once per configuration and also covers what
// TestBackendBootsDebianVM did (merged here: it booted the same two
// configurations again).
func TestRunDebianVM(t *testing.T) {
	dir := requireVM(t).Dir
	img, err := imagetest.LoadImage(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	b := New(Options{})
	cb := &checkedBackend{Backend: b, t: t, checked: map[string]bool{}}
	// Kept on failure for the consoles, shown below, then removed.
	res, err := imagetest.Run(ctx, cb, img, imagetest.Options{Timeout: 8 * time.Minute, KeepOnFailure: true, Sink: &checkLog{t: t}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != events.StatusOK || res.Failed != 0 {
		t.Errorf("status %s, %d passed, %d failed:", res.Status, res.Passed, res.Failed)
		for _, f := range res.Failures {
			t.Errorf("  %s", f)
		}
		logs, _ := filepath.Glob(filepath.Join(b.dir, "*", "vm-*", "console.log"))
		for _, l := range logs {
			console, _ := os.ReadFile(l)
			lines := strings.Split(string(console), "\n")
			t.Logf("%s, last lines:\n%s", l, strings.Join(lines[max(len(lines)-60, 0):], "\n"))
		}
		if err := b.Cleanup(context.Background()); err != nil {
			t.Error(err)
		}
	}
	t.Logf("%s: %d checks passed in %v (%s)", res.Image, res.Passed, res.Duration.Round(time.Second), b.Accel())
	if res.Failed == 0 {
		for _, config := range []string{"vm", "vm-nic"} {
			if !cb.checked[config] {
				t.Errorf("no %s instance was stopped: checkedInstance's checks did not run there", config)
			}
		}
	}
	if b.dir == "" {
		t.Error("the backend was never prepared")
	} else if _, err := os.Stat(b.dir); !os.IsNotExist(err) {
		t.Errorf("the backend's directory %s is left: %v", b.dir, err)
	}
}

// TestRunInterruptedLeavesNothing cancels a run while the VM boots, as
// Ctrl-C does: Run reports the interruption, qemu is gone and so is the
// backend's directory.
func TestRunInterruptedLeavesNothing(t *testing.T) {
	dir := requireVM(t).Dir
	img, err := imagetest.LoadImage(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := New(Options{})
	time.AfterFunc(10*time.Second, cancel)
	res, err := imagetest.Run(ctx, b, img, imagetest.Options{Configs: []string{"vm-nic"}, Sink: &checkLog{t: t}})
	if !errors.Is(err, context.Canceled) || res.Status != events.StatusInterrupted {
		t.Errorf("an interrupted run: status %s, error %v", res.Status, err)
	}
	if b.dir == "" {
		t.Fatal("the backend was never prepared")
	}
	if _, err := os.Stat(b.dir); !os.IsNotExist(err) {
		t.Errorf("the backend's directory %s is left: %v", b.dir, err)
	}
	// No qemu names the backend's directory in its command line.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, _ := os.ReadFile(p)
		if bytes.Contains(cmdline, []byte("qemu-system")) && bytes.Contains(cmdline, []byte(b.dir)) {
			t.Errorf("qemu still runs: %s", bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		}
	}
}

// TestRunWithoutAgent boots the image with a program that is no agent
// where the agent should be, as an image without the agent's units
// would behave: the exec check fails soon after the login prompt,
// saying why, and the VM is gone after.
func TestRunWithoutAgent(t *testing.T) {
	dir := requireVM(t).Dir
	img, err := imagetest.LoadImage(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A few seconds' grace, not the default 2 minutes: the prompt
	// comes after the whole boot, and nothing answers anyway.
	b := New(Options{Agent: "/bin/true", AgentGrace: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := imagetest.Run(ctx, b, img, imagetest.Options{Configs: []string{"vm"}, Sink: &checkLog{t: t}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != events.StatusFailed || len(res.Failures) != 1 || res.Failures[0].Check != imagetest.CheckExec ||
		!strings.Contains(res.Failures[0].Detail, "no agent answered within 5s") {
		t.Errorf("status %s, failures %v; want exec failed for want of an agent", res.Status, res.Failures)
	}
	if _, err := os.Stat(b.dir); !os.IsNotExist(err) {
		t.Errorf("the backend's directory %s is left: %v", b.dir, err)
	}
}
