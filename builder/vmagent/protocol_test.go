package vmagent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pipeAgent serves a guest on one end of two pipes and returns a client
// on the other, as the host's socket and the guest's port are joined by
// qemu. Pushed files land under root; a poweroff bumps *powered.
func pipeAgent(t *testing.T) (c *Client, root string, powered *atomic.Int32, served chan error) {
	t.Helper()
	hostR, guestW := io.Pipe()
	guestR, hostW := io.Pipe()
	root = t.TempDir()
	powered = new(atomic.Int32)
	g := &guest{root: root, poweroff: func() error { powered.Add(1); return nil }}
	served = make(chan error, 1)
	go func() { served <- Serve(context.Background(), guestR, guestW, g) }()
	c = NewClient(struct {
		io.Reader
		io.Writer
		io.Closer
	}{hostR, hostW, closers{hostW, hostR}})
	t.Cleanup(func() { c.Close() })
	return c, root, powered, served
}

type closers []io.Closer

func (cs closers) Close() error {
	for _, c := range cs {
		c.Close()
	}
	return nil
}

func TestExec(t *testing.T) {
	c, _, _, _ := pipeAgent(t)
	ctx := context.Background()
	res, err := c.Exec(ctx, []string{"sh", "-c", `echo out; echo err >&2; echo "$FOO $HOME"; exit 3`}, map[string]string{"FOO": "bar"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "out\nbar /root\n" || res.Stderr != "err\n" || res.ExitStatus != 3 {
		t.Errorf("exec: %+v", res)
	}
	res, err = c.Exec(ctx, []string{"/nonexistent/program"}, nil)
	if err != nil || res.ExitStatus != 127 || !strings.Contains(res.Stderr, "/nonexistent/program") {
		t.Errorf("a missing program: %+v, %v; want status 127 and why on stderr", res, err)
	}
	res, err = c.Exec(ctx, []string{"sh", "-c", "kill -TERM $$"}, nil)
	if err != nil || res.ExitStatus != 128+15 {
		t.Errorf("a command killed by SIGTERM: %+v, %v; want status 143", res, err)
	}
	if _, err := c.Exec(ctx, nil, nil); err == nil || !strings.Contains(err.Error(), "no command") {
		t.Errorf("an empty argv: %v", err)
	}
}

// TestRequestsRunConcurrently: a slow command does not hold up the next
// request, and each answer reaches its own caller.
func TestRequestsRunConcurrently(t *testing.T) {
	c, _, _, _ := pipeAgent(t)
	ctx := context.Background()
	slow := make(chan ExecResult, 1)
	go func() {
		res, _ := c.Exec(ctx, []string{"sh", "-c", "sleep 1; echo slow"}, nil)
		slow <- res
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	res, err := c.Exec(ctx, []string{"echo", "fast"}, nil)
	if err != nil || res.Stdout != "fast\n" {
		t.Fatalf("fast: %+v, %v", res, err)
	}
	if d := time.Since(start); d > 700*time.Millisecond {
		t.Errorf("the fast command waited %v behind the slow one", d)
	}
	if res := <-slow; res.Stdout != "slow\n" {
		t.Errorf("slow: %+v", res)
	}
}

// TestDeadlineKillsTheCommand: the host's deadline travels with the
// request, and the guest kills the command when it passes.
func TestDeadlineKillsTheCommand(t *testing.T) {
	c, _, _, _ := pipeAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Exec(ctx, []string{"sleep", "30"}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("exec past the deadline: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("returned after %v", d)
	}
	// The guest killed it: its answer comes soon after and is dropped,
	// and the connection still works.
	res, err := c.Exec(context.Background(), []string{"echo", "still here"}, nil)
	if err != nil || res.Stdout != "still here\n" {
		t.Errorf("after a timeout: %+v, %v", res, err)
	}
}

func TestPushAndPoweroff(t *testing.T) {
	c, root, powered, _ := pipeAgent(t)
	ctx := context.Background()
	if err := c.Push(ctx, "/run/builder-test/script", []byte("#!/bin/sh\necho hi\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "run/builder-test/script")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("mode %v, want 0700", st.Mode().Perm())
	}
	if b, _ := os.ReadFile(path); string(b) != "#!/bin/sh\necho hi\n" {
		t.Errorf("content %q", b)
	}
	if err := c.Push(ctx, "relative/path", nil, 0); err == nil {
		t.Error("a relative path was pushed")
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Poweroff(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for powered.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if powered.Load() != 1 {
		t.Errorf("poweroff ran %d times, want once", powered.Load())
	}
	if _, err := c.Do(ctx, Request{Op: "dance"}); err == nil || !strings.Contains(err.Error(), `unknown operation "dance"`) {
		t.Errorf("an unknown operation: %v", err)
	}
}

// TestClosedConnection: callers waiting for an answer fail once the
// connection ends, and Serve returns when the host goes.
func TestClosedConnection(t *testing.T) {
	c, _, _, served := pipeAgent(t)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Exec(context.Background(), []string{"sleep", "30"}, nil)
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	c.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("exec succeeded over a closed connection")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("exec still waits after the connection closed")
	}
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve still runs after the host closed")
	}
}

func TestConfigRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := Config{Files: []File{{Path: "/etc/hostname", Content: []byte("vm1\n"), Mode: 0o644, CreateOnly: true, UID: 1, GID: 2}}}
	if err := WriteConfig(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Files) != 1 || string(got.Files[0].Content) != "vm1\n" || got.Files[0].UID != 1 || got.Files[0].GID != 2 || !got.Files[0].CreateOnly {
		t.Errorf("read back %+v", got)
	}
}

func TestIsAgent(t *testing.T) {
	for argv0, want := range map[string]bool{
		"/run/lxd_agent/lxd-agent": true, "incus-agent": true, "./builder": false, "lxd-agent.old": false,
	} {
		if got := IsAgent(argv0); got != want {
			t.Errorf("IsAgent(%q) = %v", argv0, got)
		}
	}
}

// TestRestartedAgentGetsTheRequestAgain: an agent that took a request
// and died without answering is followed by a new one, which greets the
// host; the request is sent again and its answer reaches the caller.
func TestRestartedAgentGetsTheRequestAgain(t *testing.T) {
	hostR, guestW := io.Pipe()
	guestR, hostW := io.Pipe()
	c := NewClient(struct {
		io.Reader
		io.Writer
		io.Closer
	}{hostR, hostW, closers{hostW, hostR}})
	defer c.Close()
	go func() {
		enc, dec := json.NewEncoder(guestW), json.NewDecoder(guestR)
		_ = enc.Encode(Response{Hello: true})
		var lost Request
		if dec.Decode(&lost) != nil {
			return
		}
		// The first agent dies with the request; the next one greets
		// the host and serves what comes.
		_ = enc.Encode(Response{Hello: true})
		for {
			var req Request
			if dec.Decode(&req) != nil {
				return
			}
			_ = enc.Encode(Response{ID: req.ID, Stdout: strings.Join(req.Argv, " ")})
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.Exec(ctx, []string{"echo", "again"}, nil)
	if err != nil || res.Stdout != "echo again" {
		t.Errorf("exec across an agent restart: %+v, %v", res, err)
	}
}
