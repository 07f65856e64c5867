package vmrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sync"
)

// maxConsole bounds what a console keeps in memory: the beginning of a
// boot and its latest output are what diagnostics need, and a guest
// that floods its console must not exhaust the host's memory.
const maxConsole = 4 << 20

// console collects a serial console's output as it arrives and lets
// callers wait for a pattern in it.
type console struct {
	mu      sync.Mutex
	buf     []byte
	changed chan struct{} // closed and replaced on each write and at the end
	ended   bool          // qemu closed its end: it is exiting
}

func newConsole() *console { return &console{changed: make(chan struct{})} }

// Write appends p, dropping the oldest output beyond maxConsole.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	if over := len(c.buf) - maxConsole; over > 0 {
		c.buf = append(c.buf[:0], c.buf[over:]...)
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return len(p), nil
}

func (c *console) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		c.ended = true
		close(c.changed)
	}
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}

// errEnded says the output ended before the pattern came.
var errEnded = errors.New("qemu exited")

// wait waits until re matches the output (all of it: a pattern that
// came before the call is found), the output ends or ctx ends.
func (c *console) wait(ctx context.Context, re *regexp.Regexp) error {
	for {
		c.mu.Lock()
		found := re.Match(c.buf)
		changed, ended := c.changed, c.ended
		c.mu.Unlock()
		switch {
		case found:
			return nil
		case ended:
			return errEnded
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %q on the serial console: %w", re, ctx.Err())
		}
	}
}

// copyOut copies r to c, and to w while w takes it, until r ends, then
// ends c. A failing log file must not blind the console.
func copyOut(r io.Reader, w io.Writer, c *console) {
	defer c.end()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			_, _ = c.Write(buf[:n]) // never fails
			if w != nil {
				if _, werr := w.Write(buf[:n]); werr != nil {
					w = nil
				}
			}
		}
		if err != nil {
			return // EOF: qemu closed its stdout, it is exiting
		}
	}
}

// maxConsoleFile bounds the serial console's file on disk: a guest that
// floods its console must not fill the host's temporary directory. A
// boot's console is a few hundred KiB.
const maxConsoleFile = 16 << 20

// limitWriter passes the first left bytes to w, then writes a note that
// the rest was dropped, once, and drops the rest.
type limitWriter struct {
	w     io.Writer
	left  int64
	noted bool
}

func (l *limitWriter) Write(p []byte) (int, error) {
	n := len(p)
	if l.left <= 0 {
		if !l.noted {
			l.noted = true
			if _, err := io.WriteString(l.w, "\n[builder: the console log ends here: it reached its size limit; what the guest printed later is not kept]\n"); err != nil {
				return 0, err
			}
		}
		return n, nil
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	w, err := l.w.Write(p)
	l.left -= int64(w)
	if err != nil {
		return w, err
	}
	if l.left <= 0 {
		if _, err := l.Write(nil); err != nil { // the note, now
			return w, err
		}
	}
	return n, nil
}
