package qemu

import (
	"context"
	"os"
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
	res, err := imagetest.Run(ctx, b, img, imagetest.Options{Timeout: 8 * time.Minute, Sink: &checkLog{t: t}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != events.StatusOK || res.Failed != 0 {
		t.Errorf("status %s, %d passed, %d failed:", res.Status, res.Passed, res.Failed)
		for _, f := range res.Failures {
			t.Errorf("  %s", f)
		}
	}
	t.Logf("%s: %d checks passed in %v (%s)", res.Image, res.Passed, res.Duration.Round(time.Second), b.Accel())
	if _, err := os.Stat(b.dir); !os.IsNotExist(err) {
		t.Errorf("the backend's directory %s is left: %v", b.dir, err)
	}
}
