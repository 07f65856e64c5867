package vmdisk

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// run runs a host tool and returns its output, stdout and stderr
// together. LC_ALL=C keeps mke2fs's alphasort (the order of directory
// entries) and every message the same on every host; env comes on top.
func (b *builder) run(ctx context.Context, env []string, name string, args ...string) ([]byte, error) {
	return b.runInput(ctx, nil, env, name, args...)
}

// runInput is run with stdin read from in.
func (b *builder) runInput(ctx context.Context, in io.Reader, env []string, name string, args ...string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append(os.Environ(), "LC_ALL=C", "TZ=UTC"), env...)
	cmd.Dir = b.tmp
	cmd.Stdin = in
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A killed tool's pipes close with it; this bounds the wait if one
	// left a child holding them.
	cmd.WaitDelay = 5 * time.Second
	// When builder dies (kill -9 included) the tool dies too, rather
	// than go on writing a disk's worth into a scratch directory the
	// next build sweeps, as mksquashfs does (see pack.WriteSquashfs).
	// The signal comes when the thread that started it exits, so this
	// goroutine keeps its thread until the tool is gone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err := cmd.Run()
	if ctx.Err() != nil {
		return out.Bytes(), fmt.Errorf("%s: %w", name, ctx.Err())
	}
	if err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, tail(out.Bytes()))
	}
	return out.Bytes(), nil
}

// tail is the end of a tool's output for an error message.
func tail(out []byte) string {
	const max = 2000
	s := strings.TrimSpace(string(out))
	if len(s) > max {
		s = "…" + s[len(s)-max:]
	}
	return s
}
