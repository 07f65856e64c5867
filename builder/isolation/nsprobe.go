package isolation

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// ProbeNamespaces checks that this process can create what every build
// runs in — a new mount namespace and a new PID namespace — by really
// creating them for a child that runs true. With unshare(1) on PATH it
// runs `unshare --mount --pid --fork true`; otherwise it starts true with
// CLONE_NEWNS|CLONE_NEWPID, as the build's own re-exec does. It returns
// how it tried, for reporting, and an error saying what stands in the way.
func ProbeNamespaces(ctx context.Context) (method string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if unshare, err := exec.LookPath("unshare"); err == nil {
		return "unshare --mount --pid --fork true", probeWithUnshare(ctx, unshare)
	}
	return "clone(CLONE_NEWNS|CLONE_NEWPID)", probeWithClone(ctx)
}

func probeWithUnshare(ctx context.Context, unshare string) error {
	return runProbe(exec.CommandContext(ctx, unshare, "--mount", "--pid", "--fork", "true"))
}

func probeWithClone(ctx context.Context) error {
	trueBin, err := exec.LookPath("true")
	if err != nil {
		return fmt.Errorf("finding true: %w", err)
	}
	cmd := exec.CommandContext(ctx, trueBin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID}
	return runProbe(cmd)
}

func runProbe(cmd *exec.Cmd) error {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return fmt.Errorf("creating mount and PID namespaces: %w", err)
	}
	return nil
}
