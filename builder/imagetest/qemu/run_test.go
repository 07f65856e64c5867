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

// TestRunDebianVM runs builder test's runner with the qemu backend over
// the Debian VM image: every check of the vm and vm-nic configurations
// passes (the recipe's test blocks for VMs included), and nothing of
// the backend's is left.
func TestRunDebianVM(t *testing.T) {
	dir := requireVM(t).Dir
	img, err := imagetest.LoadImage(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	b := New(Options{})
	// Kept on failure for the consoles, shown below, then removed.
	res, err := imagetest.Run(ctx, b, img, imagetest.Options{Timeout: 8 * time.Minute, KeepOnFailure: true, Sink: &checkLog{t: t}})
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
	if _, err := os.Stat(b.dir); !os.IsNotExist(err) {
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
	b := New(Options{Agent: "/bin/true"})
	b.agentGrace = 15 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := imagetest.Run(ctx, b, img, imagetest.Options{Configs: []string{"vm"}, Sink: &checkLog{t: t}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != events.StatusFailed || len(res.Failures) != 1 || res.Failures[0].Check != imagetest.CheckExec ||
		!strings.Contains(res.Failures[0].Detail, "no agent answered within 15s") {
		t.Errorf("status %s, failures %v; want exec failed for want of an agent", res.Status, res.Failures)
	}
	if _, err := os.Stat(b.dir); !os.IsNotExist(err) {
		t.Errorf("the backend's directory %s is left: %v", b.dir, err)
	}
}
