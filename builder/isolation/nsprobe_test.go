package isolation

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestProbeNamespaces creates real namespaces both ways: through
// unshare(1), and through clone flags for when unshare is missing. As
// root they must work; otherwise the error must say what failed.
func TestProbeNamespaces(t *testing.T) {
	ctx := context.Background()
	unshare, lookErr := exec.LookPath("unshare")
	probes := map[string]func() error{
		"clone": func() error { return probeWithClone(ctx) },
	}
	if lookErr == nil {
		probes["unshare"] = func() error { return probeWithUnshare(ctx, unshare) }
	}
	for name, probe := range probes {
		err := probe()
		switch {
		case os.Geteuid() == 0 && err != nil:
			t.Errorf("%s as root: %v", name, err)
		case os.Geteuid() != 0 && err != nil && !strings.HasPrefix(err.Error(), "creating mount and PID namespaces: "):
			t.Errorf("%s: error without context: %v", name, err)
		}
	}
	method, err := ProbeNamespaces(ctx)
	if (lookErr == nil) != strings.HasPrefix(method, "unshare ") {
		t.Errorf("method %q with unshare at %q", method, unshare)
	}
	if os.Geteuid() == 0 && err != nil {
		t.Errorf("ProbeNamespaces as root: %v", err)
	}
	if err := probeWithUnshare(ctx, "/nonexistent/unshare"); err == nil || !strings.Contains(err.Error(), "/nonexistent/unshare") {
		t.Errorf("missing binary: %v", err)
	}
}
