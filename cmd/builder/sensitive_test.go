package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/build"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/recipe"
	"github.com/builder-images/builder/internal/testenv"
)

// The secrets of testdata/rootfs/sensitive.hcl: the token comes from the
// command line, the key (two lines worth hiding) is the default.
const sensitiveToken = "tok-5d1e-SECRET-a9b7"

var sensitiveSecrets = []string{
	sensitiveToken,
	"keyline-one-8f3a9c",
	"keyline-two-71bd4e",
	base64.StdEncoding.EncodeToString([]byte(sensitiveToken))[:24],
}

// assertNoSecret fails when any secret of sensitive.hcl is in text.
func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range sensitiveSecrets {
		if n := strings.Count(text, s); n > 0 {
			i := strings.Index(text, s)
			t.Errorf("%s contains the secret %q %d times, first in: …%s…", what, s, n, text[max(0, i-80):min(len(text), i+len(s)+20)])
		}
	}
}

// assertNoSecretIn reads every file below dir.
func assertNoSecretIn(t *testing.T, dir string) int {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		assertNoSecret(t, p, string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestBuildMasksSensitiveValues: run steps that print a sensitive
// variable (from the step's environment, the recipe's environment block
// and a multi-line default) leave no trace of it in the text log, the
// failure summary, the event stream (output lines, the failed step's
// tail, build_end), image.json or the cache directory; each shows
// (sensitive value) instead.
func TestBuildMasksSensitiveValues(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	recipePath := "cmd/builder/testdata/rootfs/sensitive.hcl"
	tmp := t.TempDir()
	cacheDir := filepath.Join(tmp, "cache")
	out := filepath.Join(tmp, "out")
	token := "token=" + sensitiveToken

	// A build that succeeds, with the cache: image.json and the history.
	stdout, stderr, status := builderExec(t, nil, "build", recipePath, "-o", out, "--json", "--cache-dir", cacheDir, "--var", token)
	if status != 0 {
		t.Fatalf("build: exit %d\n%s\n%s", status, stdout, stderr)
	}
	assertNoSecret(t, "--json stdout", stdout)
	assertNoSecret(t, "--json stderr", stderr)
	var lines []string
	for _, e := range decodeEvents(t, stdout) {
		if e.Type == events.Output && e.Label == "show" {
			lines = append(lines, e.Line)
		}
	}
	got := strings.Join(lines, "\n")
	for _, want := range []string{
		"token is " + recipe.SensitiveText,
		"split: " + recipe.SensitiveText,
		// An environment value computed from the token is masked whole.
		"url is " + recipe.SensitiveText,
		// Each line of the key, its armour included, as GitHub does.
		strings.Repeat(recipe.SensitiveText+"\n", 4),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output events of run \"show\" lack %q:\n%s", want, got)
		}
	}
	if n := assertNoSecretIn(t, out); n < 2 {
		t.Errorf("%d files in %s", n, out)
	}
	imageJSON, err := os.ReadFile(filepath.Join(out, "image.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(sensitiveToken))
	if !strings.Contains(string(imageJSON), `"token_sha256": "`+hex.EncodeToString(sum[:])+`"`) {
		t.Errorf("image.json lacks the property published with nonsensitive():\n%s", imageJSON)
	}

	// Text mode, failing, without the cache so that every step prints:
	// the log and the failure summary.
	stdout, stderr, status = builderExec(t, []string{"BUILDER_VAR_token=" + sensitiveToken}, "build", recipePath, "-o", out+"-text", "--var", "fail=true")
	if status != exitFailure {
		t.Fatalf("failing build: exit %d, want 1\n%s\n%s", status, stdout, stderr)
	}
	assertNoSecret(t, "text stdout", stdout)
	assertNoSecret(t, "text stderr", stderr)
	for _, want := range []string{
		"[show] token is " + recipe.SensitiveText,
		"    about to fail with " + recipe.SensitiveText + "\n    " + recipe.SensitiveText + "\n",
	} {
		if !strings.Contains(stdout+stderr, want) {
			t.Errorf("text output lacks %q:\n%s\n%s", want, stdout, stderr)
		}
	}

	// --json, failing: the failed step's message and tail, build_end.
	stdout, stderr, status = builderExec(t, nil, "build", recipePath, "-o", out+"-json", "--json", "--cache-dir", cacheDir, "--var", token, "--var", "fail=true")
	if status != exitFailure {
		t.Fatalf("failing --json build: exit %d, want 1\n%s", status, stderr)
	}
	assertNoSecret(t, "failing --json stdout", stdout)
	assertNoSecret(t, "failing --json stderr", stderr)
	list := decodeEvents(t, stdout)
	end := list[len(list)-1]
	if end.Type != events.BuildEnd || end.Error == nil {
		t.Fatalf("last event: %+v", end)
	}
	if tail := strings.Join(end.Error.Tail, "\n"); !strings.Contains(tail, "about to fail with "+recipe.SensitiveText) {
		t.Errorf("build_end's tail: %q", end.Error.Tail)
	}
	if n := assertNoSecretIn(t, cacheDir); n == 0 {
		t.Errorf("nothing in the cache directory %s", cacheDir)
	}
}

// TestStageChildMasksSensitiveValues: the isolated child masks its event
// stream itself, before builder reads it, so nothing that listens to the
// child (or a parent that fails to mask) sees a value. The child is
// started as RunIsolated starts it, with unshare(1) making the
// namespaces.
func TestStageChildMasksSensitiveValues(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	unshare := testenv.Command(t, "unshare", "util-linux")
	mountNS, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	// The lifeline: the child stops when this pipe's writer closes.
	lifeline, alive, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer alive.Close()
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The request builder sends: the plan it loaded, values included.
	path, err := filepath.Abs(filepath.Join("testdata", "rootfs", "sensitive.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	plan, diags := recipe.NewLoader().Load(path, recipe.Options{Vars: []string{"token=" + sensitiveToken, "fail=true"}, HostArch: "amd64"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	request, err := json.Marshal(build.StageRequest{Plan: plan, Dir: dir, Environ: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(unshare, "--mount", "--pid", "--fork", "--uts", "--ipc", "--", builderBinary(t), build.StageCommand)
	cmd.Stdin = bytes.NewReader(request)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "BUILDER_PARENT_MOUNT_NS="+mountNS)
	cmd.ExtraFiles = []*os.File{lifeline}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	lifeline.Close()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != exitFailure {
		t.Fatalf("the stage: %v, want exit status 1\n%s", err, stderr.String())
	}
	assertNoSecret(t, "the child's events", stdout.String())
	assertNoSecret(t, "the child's stderr", stderr.String())
	var tail []string
	for _, e := range decodeEvents(t, stdout.String()) {
		if e.Type == events.StepEnd && e.Error != nil {
			tail = e.Error.Tail
		}
	}
	if len(tail) != 2 || tail[1] != recipe.SensitiveText {
		t.Errorf("the failed step's tail: %q", tail)
	}
}

// TestJSONOutputStaysJSON: a sensitive value that looks like a number
// (a PIN) is masked in JSON output inside strings only, so that a
// number equal to it, here a diagnostic's byte offset, is left whole
// and the output stays JSON.
func TestJSONOutputStaysJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pin.hcl")
	writeFile(t, path, `variable "pin" {
  type      = string
  sensitive = true
}
`+"# "+strings.Repeat("padding ", 130)+`
image {
  distribution = "busybox"
  release      = "static"
  architecture = "amd64"
  unknown      = "pin ${var.pin}"
}
bootstrap "busybox" {}
`)
	offset := func(pin string) (string, int) {
		stdout, stderr, code := runCLI(t, "", nil, "validate", "--json", path, "--var", "pin="+pin)
		if code != exitFailure {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var out struct {
			Diagnostics []struct {
				Range struct{ Start struct{ Byte int } }
			}
		}
		if err := json.Unmarshal([]byte(stdout), &out); err != nil {
			t.Fatalf("validate --json printed no JSON (%v):\n%s", err, stdout)
		}
		if len(out.Diagnostics) == 0 {
			t.Fatalf("no diagnostics:\n%s", stdout)
		}
		return stdout, out.Diagnostics[0].Range.Start.Byte
	}
	_, at := offset("zzzz")
	if at < 1000 || at > 9999 {
		t.Fatalf("the diagnostic is at byte %d; the test needs 4 digits", at)
	}
	pin := strconv.Itoa(at)
	stdout, again := offset(pin)
	if again != at {
		t.Errorf("with the PIN %s the byte offset reads %d", pin, again)
	}
	if !strings.Contains(stdout, `"byte": `+pin) && !strings.Contains(stdout, `"byte":`+pin) {
		t.Errorf("the byte offset %s is not printed whole:\n%s", pin, stdout)
	}
}

// TestReporterMasksBeforeTheLiveViewCuts: the live view cuts lines to
// the terminal's width, which would leave the start of a value that no
// writer could recognise any more; the reporter masks each event first,
// and what it keeps for the failure summary and build_end is masked.
func TestReporterMasksBeforeTheLiveViewCuts(t *testing.T) {
	const secret = "abcdef-secret-123456"
	var screen strings.Builder
	r := &reporter{mask: events.NewMasker(secret), stderr: &screen}
	r.live = events.NewLive(&screen, 40, 5)
	r.sink = r.live
	step := &events.Step{Index: 1, Total: 1, Kind: "run", Name: "x", Stage: "post-packages"}
	r.Emit(events.Event{Type: events.StepStart, Step: step})
	r.Emit(events.Event{Type: events.Output, Step: step, Label: "x", Line: "a long line that ends in " + secret})
	r.Emit(events.Event{Type: events.StepEnd, Step: step, Status: events.StatusFailed,
		Error: &events.Failure{Message: "failed with " + secret, Tail: []string{secret}}})
	r.close()
	if strings.Contains(screen.String(), secret[:6]) {
		t.Errorf("the live view shows the start of the value:\n%q", screen.String())
	}
	_, f := r.failed()
	if f == nil || f.Message != "failed with "+recipe.SensitiveText || f.Tail[0] != recipe.SensitiveText {
		t.Errorf("the failure kept for the summary: %+v", f)
	}
}
