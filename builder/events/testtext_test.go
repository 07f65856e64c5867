package events

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestTestTextRendering(t *testing.T) {
	var buf bytes.Buffer
	text := &Text{Out: &buf}
	status := 1
	passed, failed := 12, 2
	for _, e := range []Event{
		{Type: TestStart, Image: "debian", Daemon: "lxd", Configurations: []string{"unprivileged", "privileged", "nic"}},
		{Type: Check, Check: "properties", Status: StatusOK, Duration: 0.012},
		{Type: ConfigStart, Configuration: "unprivileged", Instance: "builder-test-unprivileged-1a2b3c"},
		{Type: Check, Configuration: "unprivileged", Check: "exec", Status: StatusOK, Duration: 0.211},
		{Type: Check, Configuration: "unprivileged", Check: "running", Status: StatusFailed, Detail: "degraded; failed units: systemd-binfmt.service"},
		{Type: Check, Configuration: "unprivileged", Check: "hostname", Status: StatusSkipped},
		{Type: ConfigEnd, Configuration: "unprivileged", Status: StatusFailed, Duration: 12.34},
		{Type: ConfigStart, Configuration: "nic", Instance: "builder-test-nic-4d5e6f"},
		{Type: Output, Configuration: "nic", Label: "motd", Line: "no motd"},
		{Type: Check, Configuration: "nic", Check: "test:motd", Status: StatusFailed, Detail: "exit status 1: no motd",
			Error: &Failure{File: "recipes/busybox.hcl", Line: 60, ExitStatus: &status}},
		{Type: Check, Configuration: "nic", Check: "network", Status: StatusFailed, Detail: "no address\nconsole:\nline a"},
		{Type: ConfigEnd, Configuration: "nic", Status: StatusOK, Duration: 3},
		{Type: TestEnd, Image: "debian", Status: StatusFailed, Duration: 40.1, Passed: &passed, Failed: &failed},
	} {
		text.Emit(e)
	}
	want := `==> test debian (3 configurations on lxd)
    ok      properties (0.01s)
==> [unprivileged] builder-test-unprivileged-1a2b3c
    ok      exec (0.21s)
    FAILED  running: degraded; failed units: systemd-binfmt.service
    skipped hostname
<== [unprivileged] FAILED after 12.34s
==> [nic] builder-test-nic-4d5e6f
    [motd] no motd
    FAILED  test:motd (recipes/busybox.hcl:60): exit status 1: no motd
    FAILED  network: no address
            console:
            line a
<== [nic] passed in 3s
<== test debian FAILED in 40.1s: 2 of 14 checks failed
`
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestTestEventJSON(t *testing.T) {
	zero := 0
	var buf bytes.Buffer
	NewJSON(&buf).Emit(Event{Type: TestEnd, Status: StatusOK, Passed: &zero, Failed: &zero})
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["passed"] != 0.0 || m["failed"] != 0.0 {
		t.Errorf("zero counts are written: %s", buf.String())
	}
	if strings.Contains(buf.String(), "configuration") {
		t.Errorf("empty fields are left out: %s", buf.String())
	}
}

// TestLiveTest: the live view prints a test's lines as the text log
// does, with a line that says a check is under way between them, gone
// when the configuration ends.
func TestLiveTest(t *testing.T) {
	var buf bytes.Buffer
	live := NewLive(&buf, 80, 5)
	live.Emit(Event{Type: TestStart, Image: "img", Daemon: "lxd", Configurations: []string{"nic"}})
	live.Emit(Event{Type: ConfigStart, Configuration: "nic", Instance: "builder-test-nic-1"})
	live.Emit(Event{Type: Check, Configuration: "nic", Check: "start", Status: StatusOK, Duration: 1})
	regions := strings.Split(buf.String(), "\x1b[J")
	if last := regions[len(regions)-1]; !strings.HasPrefix(last, "    ok      start (1.00s)\n    …       checking  0s\n") {
		t.Errorf("while a check runs: %q", last)
	}
	live.Emit(Event{Type: ConfigEnd, Configuration: "nic", Status: StatusOK, Duration: 2})
	live.Close()
	regions = strings.Split(buf.String(), "\x1b[J")
	if last := regions[len(regions)-1]; last != "<== [nic] passed in 2s\n" {
		t.Errorf("after the configuration: %q", last)
	}
	for _, want := range []string{"==> test img (1 configuration on lxd)\n", "==> [nic] builder-test-nic-1\n"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("live view lacks %q: %q", want, buf.String())
		}
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain\ttext":         "plain\ttext",
		"\x1b[2Jcleared":      `\x1b[2Jcleared`,
		"back\rover":          `back\x0dover`,
		"bell\x07 del\x7f":    `bell\x07 del\x7f`,
		"c1 \u009b and ok é":  `c1 \x9b and ok é`,
		"line\u2028separator": `line\u2028separator`,
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
	e := Event{Type: Check, Check: "test:x", Status: StatusFailed, Detail: "exit status 1: \x1b[31mred\nnext\x1b[0m"}
	if got := testLine(e); strings.Contains(got, "\x1b") {
		t.Errorf("check line keeps an escape: %q", got)
	}
	o := Event{Type: Output, Configuration: "unprivileged", Label: "x", Line: "\x1b]0;title\x07"}
	if got := (&Text{}).line(o); strings.Contains(got, "\x1b") {
		t.Errorf("output line keeps an escape: %q", got)
	}
}

// An interrupted test whose cleanup failed says what it left.
func TestTestEndError(t *testing.T) {
	zero := 0
	e := Event{Type: TestEnd, Image: "busybox", Status: StatusInterrupted, Passed: &zero, Failed: &zero,
		Error: &Failure{Message: "removing what the test created: deleting bridge btest123456: busy"}}
	if got := testLine(e); !strings.Contains(got, "\n    error: removing what the test created: deleting bridge btest123456: busy") {
		t.Errorf("test_end line: %q", got)
	}
}
