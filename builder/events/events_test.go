package events

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

type collect []Event

func (c *collect) Emit(e Event) { *c = append(*c, e) }

func TestJSONRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	sink := NewJSON(&buf)
	step := &Step{Index: 2, Total: 3, Kind: "run", Name: "x", Stage: "post-files", File: "r.hcl", Line: 7}
	status := 3
	sink.Emit(Event{Type: StepStart, Step: step})
	sink.Emit(Event{Type: Output, Step: step, Label: "x", Line: `a "quoted" <line>`})
	sink.Emit(Event{Type: StepEnd, Step: step, Status: StatusFailed, Duration: 1.5,
		Error: &Failure{Message: "m", File: "r.hcl", Line: 7, Command: "c", ExitStatus: &status, Tail: []string{"t"}}})
	buf.WriteString("a stray line\n")

	var got collect
	if err := Decode(&buf, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("decoded %d events", len(got))
	}
	if got[0].Time.IsZero() || got[0].Time.Location() != time.UTC {
		t.Errorf("time %v: want set, in UTC", got[0].Time)
	}
	if got[1].Line != `a "quoted" <line>` || got[2].Error == nil || *got[2].Error.ExitStatus != 3 || got[2].Step.Line != 7 {
		t.Errorf("decoded: %+v %+v", got[1], got[2])
	}
	if got[3].Type != Output || got[3].Line != "a stray line" {
		t.Errorf("a stray line becomes output: %+v", got[3])
	}
}

func TestTextRendering(t *testing.T) {
	var buf bytes.Buffer
	text := &Text{Out: &buf}
	run := &Step{Index: 2, Total: 3, Kind: "run", Name: "x", Stage: "post-files", File: "r.hcl", Line: 7}
	boot := &Step{Index: 1, Total: 3, Kind: "bootstrap", Name: "busybox", Stage: "bootstrap", File: "r.hcl", Line: 3}
	text.Emit(Event{Type: StepStart, Step: boot})
	text.Emit(Event{Type: StepStart, Step: run})
	text.Emit(Event{Type: Output, Step: run, Label: "x", Line: "hello"})
	text.Emit(Event{Type: StepEnd, Step: run, Status: StatusOK, Duration: 1.234})
	text.Emit(Event{Type: StepEnd, Step: &Step{Kind: "finalize"}, Status: StatusFailed, Duration: 0})
	text.Emit(Event{Type: Artifact})
	want := `==> [1/3] bootstrap "busybox" (r.hcl:3)
==> [2/3] post-files run "x" (r.hcl:7)
[x] hello
<== run "x" done in 1.23s
<== finalize failed after 0s
`
	if buf.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", buf.String(), want)
	}

	buf.Reset()
	stamped := &Text{Out: &buf, Timestamps: true}
	stamped.Emit(Event{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Type: Output, Line: "x"})
	if buf.String() != "03:04:05 x\n" {
		t.Errorf("timestamped: %q", buf.String())
	}
}

func TestWriteFailure(t *testing.T) {
	var buf bytes.Buffer
	status := -1
	WriteFailure(&buf, &Step{Kind: "packages"}, &Failure{Message: "apt-get timed out", File: "r.hcl", Line: 12,
		Command: "apt-get", ExitStatus: &status, TimedOut: true, Tail: []string{"E: x"}}, []string{"packages {", "}"})
	for _, want := range []string{
		"builder: packages failed (r.hcl:12): apt-get timed out\n",
		"    12 | packages {\n    13 | }\n",
		"  command: apt-get (timed out)\n",
		"  last 1 lines of its output:\n    E: x\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestLive(t *testing.T) {
	var buf bytes.Buffer
	live := NewLive(&buf, 40, 2)
	step := &Step{Index: 1, Total: 2, Kind: "run", Name: "x", Stage: "post-files", File: "r.hcl", Line: 7}
	live.Emit(Event{Type: StepStart, Step: step})
	for _, l := range []string{"one", "two", "three\x1b[2J", strings.Repeat("y", 80)} {
		live.Emit(Event{Type: Output, Step: step, Label: "x", Line: l})
	}
	live.Emit(Event{Type: StepEnd, Step: step, Status: StatusOK, Duration: 2})
	live.Close()
	got := buf.String()
	last := got[strings.LastIndex(got, "\x1b[J")+len("\x1b[J"):]
	if last != "✓ [1/2] run \"x\"  2s\n" {
		t.Errorf("after the step: %q", last)
	}
	// The fold holds two lines: the region before the end is the header
	// and the last two output lines, each cut to the width.
	regions := strings.Split(got, "\x1b[J")
	before := regions[len(regions)-2]
	if strings.Count(before, "\n") != 3 || !strings.Contains(before, "three[2J") || !strings.Contains(before, "…") || strings.Contains(before, "one") {
		t.Errorf("live region before the end: %q", before)
	}
	if !strings.HasSuffix(regions[len(regions)-2], "\r\x1b[3A") {
		t.Errorf("the region is not erased by counting its 3 lines: %q", before)
	}
}

func TestLiveCutWidth(t *testing.T) {
	l := &Live{width: 12}
	for in, want := range map[string]string{
		"short":              "short",
		"漢字漢字漢字漢字":           "漢字漢字漢…", // 2 columns each: 10 fit in 12-2
		"a\u009b2Jb\x1b[2Jc": "a2Jb[2Jc",
		"exactly 10":         "exactly 10",
		"exactly 11!":        "exactly 11…",
	} {
		if got := l.cut(in); got != want {
			t.Errorf("cut(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestInstanceTypeMarks: the text views mark the steps and cache lines
// of a VM's stage, and leave a container's as they always were.
func TestInstanceTypeMarks(t *testing.T) {
	step := &Step{Index: 2, Total: 5, Kind: "packages", Stage: "packages"}
	var b strings.Builder
	text := &Text{Out: &b}
	for _, typ := range []string{"", "container", "vm"} {
		text.Emit(Event{Type: StepStart, Step: step, InstanceType: typ})
		text.Emit(Event{Type: Cache, CacheGroup: "bootstrap", CacheStatus: CacheHit, InstanceType: typ})
	}
	want := "==> [2/5] packages\n==> cache: bootstrap hit\n" +
		"==> [2/5] packages\n==> cache: bootstrap hit\n" +
		"==> [vm 2/5] packages\n==> cache: vm bootstrap hit\n"
	if b.String() != want {
		t.Errorf("text view:\n%s\nwant:\n%s", b.String(), want)
	}
	var lb strings.Builder
	live := NewLive(&lb, 80, 5)
	live.Emit(Event{Type: StepEnd, Step: step, Status: StatusOK, Duration: 1, InstanceType: "vm"})
	live.Close()
	if !strings.Contains(lb.String(), "✓ [vm 2/5] packages") {
		t.Errorf("live view: %q", lb.String())
	}
}
