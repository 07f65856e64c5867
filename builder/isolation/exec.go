package isolation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/builder-images/builder/builder/isolation/capability"
)

// baseEnv is the environment every command in the chroot starts from;
// nothing of the host's environment leaks in.
var baseEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"SHELL=/bin/sh",
	"TERM=xterm",
	"LANG=C.UTF-8",
	"DEBIAN_FRONTEND=noninteractive",
}

// MergeEnv returns base with each later NAME=VALUE overriding an earlier
// one of the same name, order kept.
func MergeEnv(base []string, more ...[]string) []string {
	index := map[string]int{}
	var out []string
	for _, list := range append([][]string{base}, more...) {
		for _, kv := range list {
			name, _, _ := strings.Cut(kv, "=")
			if i, ok := index[name]; ok {
				out[i] = kv
				continue
			}
			index[name] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// ExitError is a command that ran and failed, with the end of its output
// so a failure report can show what went wrong.
type ExitError struct {
	Command  string
	Status   int // -1 when killed by a signal or the timeout
	TimedOut time.Duration
	Tail     []string
}

func (e *ExitError) Error() string {
	switch {
	case e.TimedOut > 0:
		return fmt.Sprintf("%s timed out after %s", e.Command, e.TimedOut)
	case e.Status < 0:
		return fmt.Sprintf("%s was killed", e.Command)
	}
	return fmt.Sprintf("%s exited with status %d", e.Command, e.Status)
}

// Runner runs commands, in a chroot or on the host, streaming their
// output line by line under a label.
type Runner struct {
	Out io.Writer
	// Lines, when set, receives each output line with the command's
	// label instead of Out.
	Lines func(label, line string)
	// TailLines is how many last lines of output an ExitError keeps.
	TailLines int
	// PassEnv holds NAME=VALUE pairs from the host that every command
	// gets (proxies, SOURCE_DATE_EPOCH), before the command's own.
	PassEnv []string
	// ReapOrphans kills and reaps every other process of the PID
	// namespace after each command: set it only in the isolated child,
	// which is PID 1 there.
	ReapOrphans bool
}

// passedEnv names the host variables a build passes on to its commands:
// the proxies downloads need, and the reproducibility clock.
var passedEnv = []string{
	"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "SOURCE_DATE_EPOCH",
}

// HostEnv picks the passed variables out of environ.
func HostEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		for _, p := range passedEnv {
			if name == p {
				out = append(out, kv)
			}
		}
	}
	return out
}

func pathFromEnv(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			return v
		}
	}
	return ""
}

// Command describes one command to run.
type Command struct {
	Label string // prefixes each output line: "[label] …"
	// Name is what errors call the command; Argv[0] when empty.
	Name string
	Argv []string
	Env  []string // added to baseEnv
	// Chroot, when set, is the image the command runs in, sandboxed (see
	// SandboxArg); Argv[0] is then looked up in the image's PATH, not
	// the host's.
	Chroot *Chroot
	// Tool, when set, runs Argv (host paths) sandboxed in that view of
	// the host: a build-side program that runs the image's code itself.
	Tool *ToolView
	// ExtraCaps are capabilities a sandboxed command keeps beyond
	// capability.Build: a recipe's explicit, dangerous choice.
	ExtraCaps capability.Set
	Timeout   time.Duration
}

// Run runs cmd and waits. The command and everything it starts run in
// their own process group, killed whole on timeout or cancellation.
func (r *Runner) Run(ctx context.Context, c Command) error {
	if r.ReapOrphans {
		defer reapOrphans()
	}
	name := c.Name
	if name == "" {
		name = c.Argv[0]
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	env := MergeEnv(baseEnv, r.PassEnv, c.Env)
	var cmd *exec.Cmd
	switch {
	case c.Chroot != nil:
		found, err := c.Chroot.LookPath(c.Argv[0])
		if err != nil {
			return err
		}
		argv := append([]string{found}, c.Argv[1:]...)
		spec := sandboxSpec{Root: c.Chroot.Dir, Argv: argv, Env: env, Caps: capability.Build | c.ExtraCaps}
		if cmd, err = sandboxCommand(ctx, spec); err != nil {
			return fmt.Errorf("running %s: %w", name, err)
		}
	case c.Tool != nil:
		found, err := exec.LookPath(c.Argv[0])
		if err != nil {
			return fmt.Errorf("running %s: %w", name, err)
		}
		argv := append([]string{found}, c.Argv[1:]...)
		spec := sandboxSpec{Tool: c.Tool, Argv: argv, Env: env, Caps: capability.Build | c.ExtraCaps}
		if cmd, err = sandboxCommand(ctx, spec); err != nil {
			return fmt.Errorf("running %s: %w", name, err)
		}
	default:
		cmd = exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
		cmd.Env = env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	// Both kinds lead a process group: the command and everything it
	// started are killed together.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A command that leaves a background job holding its output would
	// otherwise keep Wait waiting for the output to end.
	cmd.WaitDelay = 2 * time.Second

	lines := newLineWriter(r.Out, c.Label, r.TailLines)
	if r.Lines != nil {
		label := c.Label
		lines.send = func(line string) { r.Lines(label, line) }
	}
	cmd.Stdout, cmd.Stderr = lines, lines
	err := cmd.Run()
	for _, f := range cmd.ExtraFiles { // the sandbox's spec
		f.Close()
	}
	lines.Flush()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The command succeeded; what it left running is stopped.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		lines.note("left background processes running; builder stopped them")
		return nil
	}
	if err == nil {
		return nil
	}
	var exitErr *exec.ExitError
	switch {
	case c.Timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &ExitError{Command: name, Status: -1, TimedOut: c.Timeout, Tail: lines.Tail()}
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", name, ctx.Err())
	case errors.As(err, &exitErr):
		return &ExitError{Command: name, Status: exitErr.ExitCode(), Tail: lines.Tail()}
	}
	return fmt.Errorf("running %s: %w", name, err)
}

// reapOrphans kills every process of the PID namespace but its init, the
// isolated child, and reaps them: daemons a step started must not run on
// into later steps or finalize, and orphans must not pile up as zombies.
// It does nothing outside the isolated child, where kill(-1) would reach
// every process of the machine.
func reapOrphans() {
	if os.Getpid() != 1 {
		return
	}
	_ = syscall.Kill(-1, syscall.SIGKILL)
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, 0, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

// lineWriter writes complete lines under a label and remembers the last
// few. It is safe for the concurrent writes of stdout and stderr.
type lineWriter struct {
	mu      sync.Mutex
	out     io.Writer
	prefix  string
	partial []byte
	tail    []string
	keep    int
	// send, when set, takes each line instead of out.
	send func(line string)
}

func newLineWriter(out io.Writer, label string, keep int) *lineWriter {
	if out == nil {
		out = io.Discard
	}
	prefix := ""
	if label != "" {
		prefix = "[" + label + "] "
	}
	return &lineWriter{out: out, prefix: prefix, keep: keep}
}

// maxLine caps a line kept while waiting for its newline: output without
// newlines (a progress bar, binary junk) is written out in pieces.
const maxLine = 64 * 1024

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.partial = append(w.partial, p...)
			if len(w.partial) >= maxLine {
				w.emit(string(w.partial))
				w.partial = w.partial[:0]
			}
			break
		}
		w.partial = append(w.partial, p[:i]...)
		w.emit(string(w.partial))
		w.partial = w.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

// note writes a line of builder's own under the label.
func (w *lineWriter) note(line string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.emit("builder: " + line)
}

func (w *lineWriter) emit(line string) {
	line = strings.TrimRight(line, "\r")
	if w.send != nil {
		w.send(line)
	} else {
		// Output errors are not the command's failure; losing a log
		// line must not fail the build.
		_, _ = fmt.Fprintf(w.out, "%s%s\n", w.prefix, line)
	}
	if w.keep > 0 {
		w.tail = append(w.tail, line)
		if len(w.tail) > w.keep {
			w.tail = w.tail[len(w.tail)-w.keep:]
		}
	}
}

// Flush writes a last line without a newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.emit(string(w.partial))
		w.partial = nil
	}
}

func (w *lineWriter) Tail() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.tail...)
}
