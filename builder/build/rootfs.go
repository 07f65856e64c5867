package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/isolation"
	"github.com/builder-images/builder/builder/recipe"
)

// RootfsRequest is the rootfs stage of a loaded recipe into Dir.
type RootfsRequest struct {
	Plan *recipe.Plan
	// Dir is made when missing; it must be empty otherwise.
	Dir string
	// Keep keeps Dir when the build fails, for inspection.
	Keep bool
	// Cache is how the stage uses the stage cache (none when its Dir
	// is empty).
	Cache cache.Policy
	// Environ is builder's environment: proxies and SOURCE_DATE_EPOCH
	// are passed on to the build's commands.
	Environ []string
	// Log receives progress lines for people; Stderr the isolated
	// stage's own messages and the note about a kept directory.
	Log, Stderr io.Writer
}

// StageExitError is the isolated stage's failure: it exited, having
// reported why (as a step's failure event or on its stderr), or a signal
// killed it (Reported says which).
type StageExitError = isolation.IsolatedExitError

// Rootfs builds the plan's root filesystem into req.Dir in the isolated
// stage, holding the cache (if any) for the stage's use, and returns the
// directory's absolute path. On failure the directory is removed (after
// proving nothing is mounted there) unless req.Keep.
func Rootfs(ctx context.Context, req RootfsRequest, sink events.Sink) (string, error) {
	_, unlock, err := req.Cache.Lock(ctx)
	if err != nil {
		return "", err
	}
	defer unlock()
	return runStage(ctx, req, sink)
}

// runStage runs the isolated rootfs stage; the caller holds the cache.
func runStage(ctx context.Context, req RootfsRequest, sink events.Sink) (string, error) {
	req.Log, req.Stderr = orDiscard(req.Log), orDiscard(req.Stderr)
	if os.Geteuid() != 0 {
		return "", errors.New("building a rootfs needs root: it mounts, chroots and creates device nodes (run builder with sudo)")
	}
	abs, created, err := prepareTarget(req.Dir)
	if err != nil {
		return "", err
	}
	start := time.Now()
	request, err := newStageRequest(req, abs)
	if err != nil {
		return "", err
	}
	// The child reports on its stdout as events; they go on to sink.
	pr, pw := io.Pipe()
	decoded := make(chan error, 1)
	go func() {
		err := events.Decode(pr, sink)
		_, _ = io.Copy(io.Discard, pr)
		decoded <- err
	}()
	buildErr := isolation.RunIsolated(ctx, []string{StageCommand}, bytes.NewReader(request), pw, req.Stderr)
	pw.Close()
	if err := <-decoded; err != nil && buildErr == nil {
		buildErr = fmt.Errorf("reading the build's events: %w", err)
	}
	if buildErr == nil {
		fmt.Fprintf(req.Log, "<== rootfs built in %s\n", time.Since(start).Round(time.Second))
		return abs, nil
	}
	if req.Keep {
		fmt.Fprintf(req.Stderr, "builder: keeping %s for inspection (--keep-on-error)\n", abs)
	} else if err := removeTarget(abs, created); err != nil {
		buildErr = errors.Join(buildErr, err)
	}
	return "", buildErr
}

// prepareTarget makes dir an empty directory, creating it when missing.
func prepareTarget(dir string) (abs string, created bool, err error) {
	abs, err = filepath.Abs(dir)
	if err != nil {
		return "", false, fmt.Errorf("resolving %s: %w", dir, err)
	}
	entries, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return "", false, fmt.Errorf("creating %s: %w", abs, err)
		}
		return abs, true, nil
	case err != nil:
		return "", false, fmt.Errorf("%s: %w", abs, err)
	case len(entries) > 0:
		return "", false, &RequestError{fmt.Errorf("%s is not empty; give a new or empty directory", abs)}
	}
	return abs, false, nil
}

// removeTarget removes what a failed build left, proving first that
// nothing is mounted there; a directory the user made stays, empty.
func removeTarget(abs string, created bool) error {
	if err := isolation.RemoveTree(abs); err != nil {
		return err
	}
	if !created {
		if err := os.Mkdir(abs, 0o755); err != nil {
			return fmt.Errorf("recreating %s: %w", abs, err)
		}
	}
	return nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
