package main

import (
	"bufio"
	"io"
	"os"
	"sync"
	"time"

	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/image"
)

// reporter is where a build's events go: the text log or, with --json,
// NDJSON on stdout. It remembers the step that failed, for the summary.
type reporter struct {
	sink   events.Sink
	json   bool
	stderr io.Writer

	mu         sync.Mutex
	failedStep *events.Step
	failure    *events.Failure
}

func (a *app) newReporter(asJSON bool) *reporter {
	r := &reporter{json: asJSON, stderr: a.stderr}
	if asJSON {
		r.sink = events.NewJSON(a.stdout)
	} else {
		r.sink = &events.Text{Out: a.stdout}
	}
	return r
}

func (r *reporter) Emit(e events.Event) {
	if e.Type == events.StepEnd && e.Status != events.StatusOK && e.Error != nil {
		r.mu.Lock()
		r.failedStep, r.failure = e.Step, e.Error
		r.mu.Unlock()
	}
	r.sink.Emit(e)
}

// log is where human progress lines go: stdout, or stderr when stdout
// carries the event stream.
func (r *reporter) log(a *app) io.Writer {
	if r.json {
		return a.stderr
	}
	return a.stdout
}

// failed returns the failure a step reported, if one did.
func (r *reporter) failed() (*events.Step, *events.Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failedStep, r.failure
}

// summarize writes the failure summary to stderr in text mode: the step,
// its recipe lines, the command and its last output.
func (r *reporter) summarize() {
	step, f := r.failed()
	if f == nil || r.json {
		return
	}
	events.WriteFailure(r.stderr, step, f, recipeSnippet(f.File, f.Line, 4))
}

// artifacts emits an event per image file and one for image.json.
func (r *reporter) artifacts(j image.ImageJSON) {
	for _, f := range j.Files {
		r.Emit(events.Event{Time: time.Now(), Type: events.Artifact,
			File: &events.File{Name: f.Name, Role: string(f.Role), SHA256: f.SHA256, Size: f.Size}, Fingerprint: j.Fingerprint})
	}
}

// recipeSnippet returns up to n lines of file from line on, stopping
// after the block's closing brace; nothing when the file cannot be read.
func recipeSnippet(file string, line, n int) []string {
	if file == "" || line < 1 {
		return nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for i := 1; sc.Scan() && len(out) < n; i++ {
		if i < line {
			continue
		}
		out = append(out, sc.Text())
		if i > line && sc.Text() == "}" {
			break
		}
	}
	return out
}
