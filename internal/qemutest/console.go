package qemutest

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
)

// console collects a serial console's output as it arrives, with the
// time each piece arrived, so that a pattern found late is still timed
// by when the guest printed it, not by when someone looked.
type console struct {
	mu      sync.Mutex
	buf     []byte
	stamps  []stamp       // in order of arrival; the last one ends at len(buf)
	changed chan struct{} // closed and replaced on each write and at the end
	ended   bool          // the guest's output ended: qemu exited
}

type stamp struct {
	end int // offset just past the piece
	at  time.Time
}

func newConsole() *console { return &console{changed: make(chan struct{})} }

// Write appends p, as arrived now.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	c.stamps = append(c.stamps, stamp{end: len(c.buf), at: time.Now()})
	close(c.changed)
	c.changed = make(chan struct{})
	return len(p), nil
}

// end marks the output finished.
func (c *console) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ended {
		c.ended = true
		close(c.changed)
	}
}

// String is everything so far.
func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}

// arrival is when the byte at offset off arrived.
func (c *console) arrival(off int) time.Time {
	for _, s := range c.stamps {
		if off < s.end {
			return s.at
		}
	}
	return c.stamps[len(c.stamps)-1].at
}

// errEnded says the output ended before the pattern came.
var errEnded = errors.New("qemu exited")

// wait waits until re matches the output, the output ends or deadline
// passes, and returns when the match's last byte arrived. The whole
// output is searched, so a pattern that came before the call is found.
func (c *console) wait(re *regexp.Regexp, deadline time.Time) (time.Time, error) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		c.mu.Lock()
		if loc := re.FindIndex(c.buf); loc != nil {
			at := c.arrival(max(loc[1]-1, 0))
			c.mu.Unlock()
			return at, nil
		}
		changed, ended := c.changed, c.ended
		c.mu.Unlock()
		if ended {
			return time.Time{}, errEnded
		}
		select {
		case <-changed:
		case <-timer.C:
			return time.Time{}, fmt.Errorf("no match for %q by the deadline", re)
		}
	}
}

// tail is the output's last n lines, for error messages.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(s, "\r", ""), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
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
