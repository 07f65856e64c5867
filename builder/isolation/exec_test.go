package isolation

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestMergeEnv(t *testing.T) {
	got := MergeEnv([]string{"A=1", "B=2"}, []string{"B=3", "C=4"}, []string{"A=5"})
	if want := "A=5 B=3 C=4"; strings.Join(got, " ") != want {
		t.Errorf("MergeEnv = %v, want %s", got, want)
	}
}

func TestLineWriter(t *testing.T) {
	var out bytes.Buffer
	w := newLineWriter(&out, "step", 2)
	for _, chunk := range []string{"one\ntw", "o\r\nthree", "\nfour"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	if want := "[step] one\n[step] two\n[step] three\n[step] four\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	if got := strings.Join(w.Tail(), ","); got != "three,four" {
		t.Errorf("tail = %q, want the last two lines", got)
	}
}

func TestRunnerRun(t *testing.T) {
	var out bytes.Buffer
	r := &Runner{Out: &out, TailLines: 3}
	ctx := context.Background()

	if err := r.Run(ctx, Command{Label: "ok", Argv: []string{"/bin/sh", "-c", "echo $GREETING; echo err >&2"}, Env: []string{"GREETING=hi"}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "[ok] hi\n") || !strings.Contains(out.String(), "[ok] err\n") {
		t.Errorf("output %q lacks the labelled stdout and stderr lines", out.String())
	}

	err := r.Run(ctx, Command{Label: "fail", Argv: []string{"/bin/sh", "-c", "for i in 1 2 3 4; do echo line$i; done; exit 3"}})
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Status != 3 || strings.Join(exit.Tail, ",") != "line2,line3,line4" {
		t.Errorf("failing command: %#v", err)
	}
	if !strings.Contains(err.Error(), "exited with status 3") {
		t.Errorf("message %q does not give the status", err)
	}

	// The host's environment does not leak into commands.
	t.Setenv("BUILDER_LEAK_TEST", "leaked")
	out.Reset()
	if err := r.Run(ctx, Command{Argv: []string{"/bin/sh", "-c", "echo [$BUILDER_LEAK_TEST] $PATH"}}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "leaked") || !strings.Contains(out.String(), "/usr/sbin") {
		t.Errorf("environment: %q", out.String())
	}
}

func TestRunnerTimeoutKillsTheProcessGroup(t *testing.T) {
	r := &Runner{TailLines: 5}
	start := time.Now()
	// The background sleep would keep the pipe open if only the shell
	// were killed.
	err := r.Run(context.Background(), Command{Argv: []string{"/bin/sh", "-c", "sleep 30 & echo started; sleep 30"}, Timeout: 300 * time.Millisecond})
	var exit *ExitError
	if !errors.As(err, &exit) || exit.TimedOut != 300*time.Millisecond {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if !strings.Contains(err.Error(), "timed out after 300ms") {
		t.Errorf("message %q", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("the timeout took %s: the process group was not killed", time.Since(start))
	}
}

func TestRunnerCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	err := (&Runner{}).Run(ctx, Command{Argv: []string{"/bin/sleep", "30"}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// TestRunnerBackgroundJob: a command that leaves a job running, holding
// its output, succeeds once it exits, and the job is stopped.
func TestRunnerBackgroundJob(t *testing.T) {
	var out bytes.Buffer
	start := time.Now()
	err := (&Runner{Out: &out}).Run(context.Background(), Command{Label: "bg", Argv: []string{"/bin/sh", "-c", "sleep 100 & echo started"}})
	if err != nil {
		t.Fatalf("err = %v, want success", err)
	}
	if !strings.Contains(out.String(), "[bg] builder: left background processes running; builder stopped them") {
		t.Errorf("output %q does not say the job was stopped", out.String())
	}
	if time.Since(start) > 8*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
}
