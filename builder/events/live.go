package events

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// Live renders events on a terminal: the current step on one line with
// its elapsed time, its last few output lines folded under it, both
// redrawn in place; when the step ends they give way to one line saying
// how it went. A build's full output stays available in the failure
// summary (its last lines) and in --json.
type Live struct {
	out   io.Writer
	width int
	fold  int

	mu   sync.Mutex
	step *Step
	// stepType is the running step's instance type (see counter).
	stepType string
	started  time.Time
	lines    []string
	// config is the test configuration running (config_start to
	// config_end): its line is redrawn with the time its current check
	// has taken, since a check (a boot, systemd settling) can take a
	// while without a word.
	config     string
	checkSince time.Time
	drawn      int // terminal lines the live region occupies
	stop       chan struct{}
	done       chan struct{}
}

// NewLive starts a renderer on a terminal width columns wide, showing up
// to fold output lines of the running step.
func NewLive(out io.Writer, width, fold int) *Live {
	if width < 20 {
		width = 80
	}
	l := &Live{out: out, width: width, fold: fold, stop: make(chan struct{}), done: make(chan struct{})}
	go l.tick()
	return l
}

// tick redraws the elapsed time while a step runs quietly.
func (l *Live) tick() {
	defer close(l.done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.mu.Lock()
			if l.step != nil || l.config != "" {
				l.redraw()
			}
			l.mu.Unlock()
		}
	}
}

// Close stops the redraws and clears what is left of the live region.
func (l *Live) Close() {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	l.clear()
}

func (l *Live) Emit(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch e.Type {
	case StepStart:
		l.step, l.stepType, l.started, l.lines = e.Step, e.InstanceType, time.Now(), nil
		l.redraw()
	case TestStart, ConfigStart, Check, ConfigEnd, TestEnd:
		// A test's lines are final when they arrive: printed as in
		// the text log, each cut to the terminal's width.
		l.clear()
		for _, line := range strings.Split(testLine(e), "\n") {
			fmt.Fprintln(l.out, l.cut(line))
		}
		switch e.Type {
		case ConfigStart, Check:
			l.config, l.checkSince = e.Configuration, time.Now()
		default:
			l.config = ""
		}
		if l.step != nil || l.config != "" {
			l.redraw()
		}
	case Output:
		if l.step == nil {
			l.clear()
			line := e.Line
			if e.Configuration != "" {
				line = "    [" + e.Label + "] " + Printable(line)
			}
			fmt.Fprintln(l.out, l.cut(line))
			return
		}
		l.lines = append(l.lines, e.Line)
		if len(l.lines) > l.fold {
			l.lines = l.lines[len(l.lines)-l.fold:]
		}
		l.redraw()
	case Cache:
		l.clear()
		line := fmt.Sprintf("· cache: %s%s %s", typePrefix(e), e.CacheGroup, e.CacheStatus)
		if len(e.Reasons) > 0 {
			line += ": " + strings.Join(e.Reasons, "; ")
		}
		fmt.Fprintln(l.out, l.cut(line))
		if l.step != nil {
			l.redraw()
		}
	case StepEnd:
		l.clear()
		if e.Status == StatusCached {
			fmt.Fprintln(l.out, l.cut(fmt.Sprintf("✓ %s %s  cached", counter(e), e.Step.Header())))
			l.step, l.lines = nil, nil
			return
		}
		mark := "✓"
		if e.Status != StatusOK {
			mark = "✗"
		}
		fmt.Fprintln(l.out, l.cut(fmt.Sprintf("%s %s %s  %s%s", mark, counter(e), e.Step.Header(), Round(e.Duration), statusWord(e.Status))))
		l.step, l.lines = nil, nil
	}
}

func statusWord(status string) string {
	if status == StatusOK {
		return ""
	}
	return "  " + status
}

// clear erases the live region: up to its first line, then to the end
// of the screen.
func (l *Live) clear() {
	if l.drawn > 0 {
		fmt.Fprintf(l.out, "\r\033[%dA\033[J", l.drawn)
		l.drawn = 0
	}
}

func (l *Live) redraw() {
	l.clear()
	if l.step == nil {
		// A test's configuration between its checks.
		elapsed := time.Since(l.checkSince).Truncate(time.Second)
		fmt.Fprintln(l.out, l.cut(fmt.Sprintf("    …       checking  %s", elapsed)))
		l.drawn = 1
		return
	}
	s := l.step
	where := ""
	if s.File != "" {
		where = fmt.Sprintf(" (%s:%d)", s.File, s.Line)
	}
	elapsed := time.Since(l.started).Truncate(time.Second)
	var b strings.Builder
	b.WriteString(l.cut(fmt.Sprintf("==> %s %s%s  %s", counter(Event{Step: s, InstanceType: l.stepType}), s.Header(), where, elapsed)) + "\n")
	for _, line := range l.lines {
		b.WriteString("\033[2m" + l.cut("    "+line) + "\033[0m\n")
	}
	fmt.Fprint(l.out, b.String())
	l.drawn = 1 + len(l.lines)
}

// cut shortens a line to the terminal's width in columns (East Asian
// wide characters take two), so that each takes one terminal line and
// the region can be erased by counting lines; C0 and C1 control
// characters, which could move the cursor, are dropped.
func (l *Live) cut(s string) string {
	var b strings.Builder
	cols := 0
	for _, r := range s {
		switch {
		case r == '\t':
			r = ' '
		case r < 0x20 || (r >= 0x7f && r < 0xa0) || r == utf8.RuneError:
			continue
		}
		w := 1
		if k := width.LookupRune(r).Kind(); k == width.EastAsianWide || k == width.EastAsianFullwidth {
			w = 2
		}
		if cols+w > l.width-2 {
			b.WriteString("…")
			return b.String()
		}
		b.WriteRune(r)
		cols += w
	}
	return b.String()
}
