package events

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Text renders events as the plain lines of builder's log: a line when a
// step starts and ends, and every command's output under its label. With
// Timestamps (for CI logs) each line starts with the time of day.
type Text struct {
	Out        io.Writer
	Timestamps bool
	mu         sync.Mutex
}

// Header is how a step is named in text: `run "name"`, `finalize`.
func (s *Step) Header() string {
	if s.Name == "" {
		return s.Kind
	}
	return fmt.Sprintf("%s %q", s.Kind, s.Name)
}

func (t *Text) Emit(e Event) {
	if t.Out == nil {
		return
	}
	line := t.line(e)
	if line == "" {
		return
	}
	if t.Timestamps {
		when := e.Time
		if when.IsZero() {
			when = time.Now()
		}
		line = when.UTC().Format("15:04:05 ") + line
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, _ = io.WriteString(t.Out, line+"\n")
}

func (t *Text) line(e Event) string {
	switch e.Type {
	case StepStart:
		s := e.Step
		stage := s.Stage + " "
		if s.Stage == s.Kind {
			stage = ""
		}
		where := ""
		if s.File != "" {
			where = fmt.Sprintf(" (%s:%d)", s.File, s.Line)
		}
		return fmt.Sprintf("==> %s %s%s%s", counter(e), stage, s.Header(), where)
	case Output:
		indent, line := "", e.Line
		if e.Configuration != "" {
			// A test block's output, under its configuration's checks;
			// the guest wrote it, so it is escaped.
			indent, line = "    ", Printable(line)
		}
		if e.Label == "" {
			return indent + line
		}
		return indent + "[" + e.Label + "] " + line
	case TestStart, ConfigStart, Check, ConfigEnd, TestEnd:
		return testLine(e)
	case Cache:
		line := fmt.Sprintf("==> cache: %s%s %s", typePrefix(e), e.CacheGroup, e.CacheStatus)
		if len(e.Reasons) > 0 {
			line += ": " + strings.Join(e.Reasons, "; ")
		}
		return line
	case StepEnd:
		d := Round(e.Duration)
		if e.Status == StatusCached {
			return fmt.Sprintf("<== %s cached", e.Step.Header())
		}
		if e.Status == StatusOK {
			return fmt.Sprintf("<== %s done in %s", e.Step.Header(), d)
		}
		return fmt.Sprintf("<== %s %s after %s", e.Step.Header(), e.Status, d)
	}
	return ""
}

// counter is a step's place in its stage, "[2/5]", marked with the
// instance type for a stage that is not a container's ("[vm 2/5]"): a
// build of a container and a VM image runs two stages, which count
// their steps each.
func counter(e Event) string {
	return fmt.Sprintf("[%s%d/%d]", typePrefix(e), e.Step.Index, e.Step.Total)
}

// typePrefix is "vm " for an event of a VM's stage, "" for a
// container's, whose output is the one builder always had.
func typePrefix(e Event) string {
	if e.InstanceType == "" || e.InstanceType == "container" {
		return ""
	}
	return e.InstanceType + " "
}

// Round turns seconds into a duration rounded for people.
func Round(seconds float64) time.Duration {
	return time.Duration(seconds * float64(time.Second)).Round(10 * time.Millisecond)
}

// WriteFailure writes the failure summary: the step and where the recipe
// declares it, the recipe lines (snippet, numbered from f.Line), the
// command and its status, and its last output lines.
func WriteFailure(w io.Writer, step *Step, f *Failure, snippet []string) {
	var b strings.Builder
	what := "the build"
	if step != nil {
		what = step.Header()
	}
	fmt.Fprintf(&b, "builder: %s failed", what)
	if f.File != "" {
		fmt.Fprintf(&b, " (%s:%d)", f.File, f.Line)
	}
	fmt.Fprintf(&b, ": %s\n", f.Message)
	for i, l := range snippet {
		fmt.Fprintf(&b, "  %4d | %s\n", f.Line+i, l)
	}
	if f.Command != "" {
		switch {
		case f.TimedOut:
			fmt.Fprintf(&b, "  command: %s (timed out)\n", f.Command)
		case f.ExitStatus != nil && *f.ExitStatus >= 0:
			fmt.Fprintf(&b, "  command: %s, exit status %d\n", f.Command, *f.ExitStatus)
		default:
			fmt.Fprintf(&b, "  command: %s (killed)\n", f.Command)
		}
	}
	if len(f.Tail) > 0 {
		fmt.Fprintf(&b, "  last %d lines of its output:\n", len(f.Tail))
		for _, l := range f.Tail {
			fmt.Fprintf(&b, "    %s\n", l)
		}
	}
	_, _ = io.WriteString(w, b.String())
}
