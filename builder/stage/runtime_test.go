package stage

import (
	"context"
	"errors"
	"testing"

	"github.com/builder-images/builder/builder/step"
)

// TestRuntimeBeforeTheSandbox: while the bootstrap runs on the host, a
// step's runtime refuses what needs the image's sandbox, so no command
// meant for the image can run on the host.
func TestRuntimeBeforeTheSandbox(t *testing.T) {
	rt := &stepRuntime{stage: &Stage{Dir: t.TempDir()}}
	if err := rt.Exec(context.Background(), step.Command{Argv: []string{"true"}}); !errors.Is(err, errNoSandbox) {
		t.Errorf("Exec = %v, want %v", err, errNoSandbox)
	}
	if _, err := rt.WriteScript("x", "true\n"); !errors.Is(err, errNoSandbox) {
		t.Errorf("WriteScript = %v, want %v", err, errNoSandbox)
	}
	if _, _, err := rt.ShareDownloads(context.Background(), "/var/cache/apt/archives"); !errors.Is(err, errNoSandbox) {
		t.Errorf("ShareDownloads = %v, want %v", err, errNoSandbox)
	}
}
