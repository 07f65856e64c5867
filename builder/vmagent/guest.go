package vmagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// maxOutput bounds each of a command's stdout and stderr kept: what a
// check needs fits many times over, and the whole answer travels as one
// line over a slow serial port.
const maxOutput = 4 << 20

// baseEnv is a command's environment before the request's Env: what
// LXD's and Incus's exec give a command run as root.
var baseEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"USER=root",
	"LANG=C.UTF-8",
}

// guest carries out requests in the VM.
type guest struct {
	// root prefixes every path pushed: "" in the VM, a temporary
	// directory in tests.
	root string
	// poweroff shuts the guest down; replaced in tests.
	poweroff func() error
}

func (g *guest) Handle(ctx context.Context, req Request) Response {
	switch req.Op {
	case OpPing:
		return Response{}
	case OpExec:
		return g.exec(ctx, req)
	case OpPush:
		if !filepath.IsAbs(req.Path) {
			return Response{Error: fmt.Sprintf("push %q: not an absolute path", req.Path)}
		}
		if err := writeFile(g.root+req.Path, req.Content, fs.FileMode(req.Mode), 0, 0); err != nil {
			return Response{Error: err.Error()}
		}
		return Response{}
	case OpPoweroff:
		// Answer first: the shutdown stops this agent.
		time.AfterFunc(200*time.Millisecond, func() { _ = g.poweroff() })
		return Response{}
	default:
		return Response{Error: fmt.Sprintf("unknown operation %q", req.Op)}
	}
}

func (g *guest) exec(ctx context.Context, req Request) Response {
	if len(req.Argv) == 0 {
		return Response{Error: "exec: no command"}
	}
	if req.TimeoutMS > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMS)*time.Millisecond)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, req.Argv[0], req.Argv[1:]...)
	cmd.Env = append([]string(nil), baseEnv...)
	for k, v := range req.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = "/"
	if st, err := os.Stat("/root"); err == nil && st.IsDir() {
		cmd.Dir = "/root"
	}
	stdout, stderr := &limitedBuffer{max: maxOutput}, &limitedBuffer{max: maxOutput}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Its own process group, killed whole when the host's deadline
	// passes; and a daemon it starts that keeps its output open must
	// not hold the answer back.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	resp := Response{Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		resp.Status = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			resp.Status = 128 + int(ws.Signal()) // as a shell reports it
		}
	case errors.Is(err, exec.ErrWaitDelay):
		// It exited; something it started kept its output open.
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		resp.Status = 127 // as a shell reports a missing command
		resp.Stderr += err.Error() + "\n"
	case errors.Is(err, fs.ErrPermission):
		resp.Status = 126
		resp.Stderr += err.Error() + "\n"
	default:
		return Response{Error: fmt.Sprintf("exec %s: %v", req.Argv[0], err)}
	}
	if ctx.Err() != nil && resp.Status != 0 {
		resp.Stderr += fmt.Sprintf("killed: the host's deadline (%v) passed\n", time.Duration(req.TimeoutMS)*time.Millisecond)
	}
	return resp
}

// writeFile writes content to path atomically (a temporary file in the
// same directory, renamed), making its parents (0755) as needed; mode
// 0 is 0644.
func writeFile(path string, content []byte, mode fs.FileMode, uid, gid int) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%s: not an absolute path", path)
	}
	if mode == 0 {
		mode = 0o644
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // gone after a rename
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), mode.Perm()); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(tmp.Name(), uid, gid); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return nil
}

// limitedBuffer keeps the first max bytes written and counts the rest.
type limitedBuffer struct {
	b       bytes.Buffer
	max     int
	dropped int
}

// Write takes all of p: a command must not fail for printing much.
func (l *limitedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := max(l.max-l.b.Len(), 0); room < n {
		l.dropped += n - room
		p = p[:room]
	}
	l.b.Write(p)
	return n, nil
}

func (l *limitedBuffer) String() string {
	if l.dropped > 0 {
		return l.b.String() + fmt.Sprintf("\n[%d more bytes not kept]\n", l.dropped)
	}
	return l.b.String()
}

// sethostname sets the kernel's host name from an /etc/hostname file's
// content: systemd read that file before the agent wrote it, and under
// a daemon the instance has its name from the start.
func sethostname(content []byte) error {
	name := strings.TrimSpace(strings.SplitN(string(content), "\n", 2)[0])
	if name == "" {
		return nil
	}
	return syscall.Sethostname([]byte(name))
}
