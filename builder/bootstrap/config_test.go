package bootstrap

import (
	"context"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/step/steptest"
)

// TestRunNeedsTheStage: a bootstrap step runs its backend on the host,
// with what only the rootfs stage's runtime gives (BootstrapEnv); any
// other runtime is refused before anything runs.
func TestRunNeedsTheStage(t *testing.T) {
	rt := &steptest.Runtime{Dir: t.TempDir()}
	err := (&Config{Backend: "busybox", Binary: DefaultBusybox}).Run(context.Background(), rt)
	if err == nil || !strings.Contains(err.Error(), "rootfs stage") || len(rt.Calls) > 0 {
		t.Errorf("Run = %v after %v; want it refused", err, rt.Calls)
	}
	if err := (&Config{Backend: "debootstap"}).Run(context.Background(), rt); err == nil || !strings.Contains(err.Error(), "no bootstrap backend") {
		t.Errorf("Run of an unknown backend = %v", err)
	}
}

// TestConfigTools: a block names its backend's tools, the foreign-only
// ones included, and the default busybox only when it installs that.
func TestConfigTools(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{Backend: "debootstrap"}, "debootstrap"},
		{Config{Backend: "mmdebstrap"}, "mmdebstrap arch-test"},
		{Config{Backend: "busybox", Binary: DefaultBusybox}, DefaultBusybox},
		{Config{Backend: "busybox", Binary: "./busybox"}, ""},
		{Config{Backend: "tarball", Source: "root.tar"}, ""},
	} {
		if got := strings.Join(tt.cfg.Tools(), " "); got != tt.want {
			t.Errorf("%s block's tools = %q, want %q", tt.cfg.Backend, got, tt.want)
		}
	}
}
