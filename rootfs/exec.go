package rootfs

import (
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

// mergeEnv returns base with each later NAME=VALUE overriding an earlier
// one of the same name, order kept.
func mergeEnv(base []string, more ...[]string) []string {
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
	// TailLines is how many last lines of output an ExitError keeps.
	TailLines int
}

// Command describes one command to run.
type Command struct {
	Label string // prefixes each output line: "[label] …"
	// Name is what errors call the command; Argv[0] when empty.
	Name string
	Argv []string
	Env  []string // added to baseEnv
	// Chroot, when set, is the directory the command runs chrooted in.
	Chroot  string
	Timeout time.Duration
}

// Run runs cmd and waits. The command and everything it starts run in
// their own process group, killed whole on timeout or cancellation.
func (r *Runner) Run(ctx context.Context, c Command) error {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Env = mergeEnv(baseEnv, c.Env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Chroot: c.Chroot}
	if c.Chroot != "" {
		cmd.Dir = "/"
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second

	lines := newLineWriter(r.Out, c.Label, r.TailLines)
	cmd.Stdout, cmd.Stderr = lines, lines
	cmd.Stdin = nil
	err := cmd.Run()
	lines.Flush()
	if err == nil {
		return nil
	}
	name := c.Name
	if name == "" {
		name = c.Argv[0]
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

// lineWriter writes complete lines under a label and remembers the last
// few. It is safe for the concurrent writes of stdout and stderr.
type lineWriter struct {
	mu      sync.Mutex
	out     io.Writer
	prefix  string
	partial []byte
	tail    []string
	keep    int
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

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := strings.IndexByte(string(w.partial), '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) emit(line string) {
	line = strings.TrimRight(line, "\r")
	// Output errors are not the command's failure; losing a log line
	// must not fail the build.
	_, _ = fmt.Fprintf(w.out, "%s%s\n", w.prefix, line)
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

// scriptArgv writes a run step's script into the chroot's /tmp (the
// build's tmpfs) and returns how to run it: through its #! line when it
// has one, with /bin/sh otherwise.
func scriptArgv(chroot, name, script string) ([]string, error) {
	f, err := os.CreateTemp(chroot+"/tmp", "builder-run-*")
	if err != nil {
		return nil, fmt.Errorf("writing the script of %s: %w", name, err)
	}
	_, werr := f.WriteString(script)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(f.Name(), 0o700)); err != nil {
		return nil, fmt.Errorf("writing the script of %s: %w", name, err)
	}
	inside := "/tmp/" + f.Name()[len(chroot+"/tmp/"):]
	if strings.HasPrefix(script, "#!") {
		return []string{inside}, nil
	}
	return []string{"/bin/sh", inside}, nil
}
