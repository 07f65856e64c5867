package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/builder-images/builder/builder/build"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/output"
)

// reporter is where a build's events go: the text log or, with --json,
// NDJSON on stdout. It remembers the step that failed, for the summary.
type reporter struct {
	sink events.Sink
	// mask masks every event before it is recorded or shown: the live
	// view cuts lines to the terminal's width, which would leave the
	// start of a value the writer below could no longer recognise.
	mask   *events.Masker
	json   bool
	quiet  bool
	stderr io.Writer
	// logOut is where human progress lines go: stdout, stderr when
	// stdout carries the event stream, nowhere when quiet.
	logOut io.Writer
	// tty is true when the log is a terminal that takes redraws.
	tty  bool
	live *events.Live

	mu         sync.Mutex
	failedStep *events.Step
	failure    *events.Failure
	// cache is each cache group's last status, in order of appearance
	// (see cacheEntry).
	cache      []string
	cacheState map[string]string
	// firstType is the instance type of the first cache event.
	firstType string
	// cacheWhy is the first miss's reasons: the change that caused it.
	cacheWhy []string
}

// reportMode is how a build reports: --json, --quiet, or text.
type reportMode struct {
	json, quiet bool
}

// newReporter picks the view: NDJSON on stdout (the log on stderr);
// nothing but errors and the summary (--quiet); on a terminal, live
// steps with their output folded; otherwise (CI logs, pipes, CI=true)
// plain lines stamped with the time.
func (a *app) newReporter(mode reportMode) *reporter {
	r := &reporter{json: mode.json, quiet: mode.quiet, stderr: a.stderr, mask: a.mask}
	f, onTerminal := terminal(a.stdout)
	switch {
	case mode.json:
		r.sink = events.NewJSON(a.stdout)
		r.logOut = a.stderr
	case mode.quiet:
		r.sink = events.Discard{}
		r.logOut = io.Discard
	case onTerminal && !isCI(a.environ):
		r.tty = true
		r.live = events.NewLive(a.stdout, terminalWidth(f), 5)
		r.sink = r.live
		r.logOut = a.stdout
	default:
		r.sink = &events.Text{Out: a.stdout, Timestamps: true}
		r.logOut = &stampWriter{out: a.stdout}
	}
	return r
}

func isCI(environ []string) bool {
	v, _ := environLookup(environ)("CI")
	return v == "true" || v == "1"
}

// close stops the live view's redraws.
func (r *reporter) close() {
	if r.live != nil {
		r.live.Close()
	}
}

func (r *reporter) Emit(e events.Event) {
	e = r.mask.MaskEvent(e)
	if e.Type == events.Cache {
		r.mu.Lock()
		if r.cacheState == nil {
			r.cacheState = map[string]string{}
		}
		name := r.cacheEntry(e)
		if _, ok := r.cacheState[name]; !ok {
			r.cache = append(r.cache, name)
		}
		// A stored snapshot follows its miss: the miss is the news.
		if !(e.CacheStatus == events.CacheStored && r.cacheState[name] == events.CacheMiss) {
			r.cacheState[name] = e.CacheStatus
		}
		if e.CacheStatus == events.CacheMiss && r.cacheWhy == nil {
			r.cacheWhy = e.Reasons
		}
		r.mu.Unlock()
	}
	if e.Type == events.StepEnd {
		r.mu.Lock()
		if e.Status != events.StatusOK && e.Error != nil {
			r.failedStep, r.failure = e.Step, e.Error
		}
		r.mu.Unlock()
	}
	r.sink.Emit(e)
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

// summary writes the end of a successful build for people: each
// output's image, fingerprint and files, then the time per stage and
// how the cache served the build.
func (r *reporter) summary(w io.Writer, res build.Result, total time.Duration) {
	if r.json {
		return
	}
	var b strings.Builder
	took := total.Round(100 * time.Millisecond)
	if len(res.Outputs) > 1 {
		fmt.Fprintf(&b, "==> built %d images in %s\n", len(res.Outputs), took)
	}
	for _, o := range res.Outputs {
		j := o.Image
		if len(res.Outputs) == 1 {
			fmt.Fprintf(&b, "==> built %s (%s, %s) in %s\n", j.Name, j.Type, j.Architecture, took)
		} else {
			fmt.Fprintf(&b, "    %s: %s (%s, %s)\n", o.Name, j.Name, j.Type, j.Architecture)
		}
		fmt.Fprintf(&b, "    fingerprint %s\n", j.Fingerprint)
		for _, f := range j.Files {
			fmt.Fprintf(&b, "    %-10s %s  %s\n", output.HumanSize(f.Size), filepath.Join(o.Dir, f.Name), f.SHA256[:12])
		}
	}
	var times []string
	for _, s := range res.Stages {
		times = append(times, fmt.Sprintf("%s %s", s.Name, events.Round(s.Seconds)))
	}
	r.mu.Lock()
	var cached []string
	explained := false
	for _, group := range r.cache {
		entry := group + " " + r.cacheState[group]
		if r.cacheState[group] == events.CacheMiss && !explained && len(r.cacheWhy) > 0 {
			entry += " (" + strings.Join(r.cacheWhy, "; ") + ")"
			explained = true
		}
		cached = append(cached, entry)
	}
	r.mu.Unlock()
	if len(times) > 0 {
		fmt.Fprintf(&b, "    time: %s\n", strings.Join(times, ", "))
	}
	if len(cached) > 0 {
		fmt.Fprintf(&b, "    cache: %s\n", strings.Join(cached, ", "))
	}
	_, _ = io.WriteString(w, b.String())
}

// cacheEntry is how the summary names what a cache event is about: its
// group, with the output for a packed file, and the instance type for a
// stage of any type but the build's first.
func (r *reporter) cacheEntry(e events.Event) string {
	name := e.CacheGroup
	if e.OutputName != "" {
		name += " " + e.OutputName
	}
	if r.firstType == "" {
		r.firstType = e.InstanceType
	}
	if e.InstanceType != "" && e.InstanceType != r.firstType && e.OutputName == "" {
		name = e.InstanceType + " " + name
	}
	return name
}

// stampWriter starts every line with the time of day, for CI logs.
type stampWriter struct {
	out     io.Writer
	midLine bool
	mu      sync.Mutex
}

func (s *stampWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b []byte
	for _, c := range p {
		if !s.midLine {
			b = time.Now().UTC().AppendFormat(b, "15:04:05 ")
			s.midLine = true
		}
		b = append(b, c)
		if c == '\n' {
			s.midLine = false
		}
	}
	if _, err := s.out.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
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
