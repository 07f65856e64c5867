package events

import (
	"fmt"
	"strings"
	"unicode"
)

// testLine renders an event of `builder test` as its text line (or
// lines), "" for an event that has none. Checks are indented under
// their configuration, with the status in a column of its own, so a
// CI log reads as a table:
//
//	==> test busybox-amd64 (3 configurations on lxd)
//	    ok      properties (0.01s)
//	==> [unprivileged] builder-test-unprivileged-1a2b3c
//	    ok      start (0.80s)
//	    FAILED  running: degraded; failed units: systemd-binfmt.service
//	    skipped hostname
//	<== [unprivileged] FAILED after 12.3s
func testLine(e Event) string {
	switch e.Type {
	case TestStart:
		n := len(e.Configurations)
		plural := "s"
		if n == 1 {
			plural = ""
		}
		return fmt.Sprintf("==> test %s (%d configuration%s on %s)", e.Image, n, plural, e.Daemon)
	case ConfigStart:
		return fmt.Sprintf("==> [%s] %s", e.Configuration, e.Instance)
	case Check:
		return checkLine(e)
	case ConfigEnd:
		d := Round(e.Duration)
		switch e.Status {
		case StatusOK:
			return fmt.Sprintf("<== [%s] passed in %s", e.Configuration, d)
		case StatusFailed:
			return fmt.Sprintf("<== [%s] FAILED after %s", e.Configuration, d)
		}
		return fmt.Sprintf("<== [%s] %s after %s", e.Configuration, e.Status, d)
	case TestEnd:
		return testEndLine(e)
	}
	return ""
}

func checkLine(e Event) string {
	switch e.Status {
	case StatusOK:
		return fmt.Sprintf("    ok      %s (%.2fs)", e.Check, e.Duration)
	case StatusSkipped:
		return "    skipped " + e.Check
	}
	word := "FAILED "
	if e.Status != StatusFailed {
		word = fmt.Sprintf("%-7s", e.Status)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "    %s %s", word, e.Check)
	if e.Error != nil && e.Error.File != "" {
		fmt.Fprintf(&b, " (%s:%d)", e.Error.File, e.Error.Line)
	}
	// A detail of several lines (a unit list, a console tail) goes
	// under the check, indented past the status column.
	lines := strings.Split(strings.TrimRight(e.Detail, "\n"), "\n")
	for i, l := range lines {
		lines[i] = Printable(l)
	}
	if lines[0] != "" {
		b.WriteString(": " + lines[0])
	}
	for _, l := range lines[1:] {
		b.WriteString("\n            " + l)
	}
	return b.String()
}

func testEndLine(e Event) string {
	line := testEndSummary(e)
	if e.Error != nil && e.Error.Message != "" {
		// What stopped the test or what cleanup could not remove: an
		// interrupted run's only word on what it left.
		lines := strings.Split(strings.TrimRight(e.Error.Message, "\n"), "\n")
		for i, l := range lines {
			lines[i] = Printable(l)
		}
		line += "\n    error: " + strings.Join(lines, "\n           ")
	}
	return line
}

func testEndSummary(e Event) string {
	d := Round(e.Duration)
	passed, failed := deref(e.Passed), deref(e.Failed)
	switch e.Status {
	case StatusOK:
		return fmt.Sprintf("<== test %s passed in %s (%d checks)", e.Image, d, passed)
	case StatusFailed:
		return fmt.Sprintf("<== test %s FAILED in %s: %d of %d checks failed", e.Image, d, failed, passed+failed)
	}
	return fmt.Sprintf("<== test %s %s after %s (%d checks passed, %d failed)", e.Image, e.Status, d, passed, failed)
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// IsTest reports whether e is one of `builder test`'s own events.
func IsTest(e Event) bool {
	switch e.Type {
	case TestStart, ConfigStart, Check, ConfigEnd, TestEnd:
		return true
	}
	return false
}

// Printable escapes the control characters of one line a guest wrote
// (all but tab): an image's output or console must not move the
// terminal's cursor, clear it or forge lines of builder's own.
func Printable(s string) string {
	if !strings.ContainsFunc(s, isEscaped) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !isEscaped(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			fmt.Fprintf(&b, "\\u%04x", r)
		}
	}
	return b.String()
}

func isEscaped(r rune) bool {
	return r != '\t' && (unicode.IsControl(r) || r == 0x2028 || r == 0x2029)
}
