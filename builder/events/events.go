// Package events is a build's progress as a stream of events: what the
// isolated rootfs child reports to builder, what `builder build --json`
// prints as NDJSON, and what the text output is rendered from. One stream
// feeds every view, so the terminal, the CI log and the JSON say the same.
// docs/events.md documents the JSON form; fields are only ever added.
package events

import (
	"bufio"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Type says what an event reports.
type Type string

// The event types, in the order a build emits them.
const (
	BuildStart Type = "build_start"
	StepStart  Type = "step_start"
	Output     Type = "output"
	StepEnd    Type = "step_end"
	Artifact   Type = "artifact"
	Import     Type = "import"
	// Cache says how a group of steps was served by the stage cache.
	Cache    Type = "cache"
	BuildEnd Type = "build_end"
)

// The event types of `builder test`, in the order it emits them: per
// image a test_start, the properties check, then per configuration a
// config_start, its checks and a config_end, and last a test_end.
const (
	TestStart   Type = "test_start"
	ConfigStart Type = "config_start"
	Check       Type = "check"
	ConfigEnd   Type = "config_end"
	TestEnd     Type = "test_end"
)

// Statuses of step_end and build_end.
const (
	StatusOK          = "ok"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted"
	// StatusCached ends a step that did not run: its result came from
	// the stage cache.
	StatusCached = "cached"
	// StatusSkipped is a check that did not run because an earlier
	// check of its configuration failed.
	StatusSkipped = "skipped"
)

// Cache statuses: a group's snapshot was restored (hit), was not there
// or is not wanted (miss), or was written (stored).
const (
	CacheHit    = "hit"
	CacheMiss   = "miss"
	CacheStored = "stored"
)

// Event is one line of the stream. Type decides which fields are set.
type Event struct {
	Time time.Time `json:"time"`
	Type Type      `json:"type"`
	// Recipe and Image name the build (build_start).
	Recipe string `json:"recipe,omitempty"`
	Image  string `json:"image,omitempty"`
	// Step is the step a step_start, output or step_end belongs to.
	Step *Step `json:"step,omitempty"`
	// Label and Line are one line a command printed (output); Label is
	// the command's, e.g. the run block's name or "apt".
	Label string `json:"label,omitempty"`
	Line  string `json:"line,omitempty"`
	// Status and Duration (seconds) end a step or the build.
	Status   string  `json:"status,omitempty"`
	Duration float64 `json:"duration,omitempty"`
	// Error says why a step or the build failed.
	Error *Failure `json:"error,omitempty"`
	// File is an image file written (artifact).
	File *File `json:"file,omitempty"`
	// Fingerprint is the image's (artifact of image.json, import,
	// build_end); Aliases and Daemon say where an import went.
	Fingerprint string   `json:"fingerprint,omitempty"`
	Aliases     []string `json:"aliases,omitempty"`
	Daemon      string   `json:"daemon,omitempty"`
	Uploaded    *bool    `json:"uploaded,omitempty"`
	// CacheGroup, CacheStatus, CacheKey and Reasons report the stage
	// cache (cache): a miss says which inputs changed.
	CacheGroup  string   `json:"cache_group,omitempty"`
	CacheStatus string   `json:"cache_status,omitempty"`
	CacheKey    string   `json:"cache_key,omitempty"`
	Reasons     []string `json:"reasons,omitempty"`
	// Output is the output directory (build_start, build_end).
	Output string `json:"output,omitempty"`
	// Outputs are the outputs a build makes (build_start) and made
	// (build_end), each with its directory.
	Outputs []OutputRef `json:"outputs,omitempty"`
	// OutputName names the output an artifact, import, pack cache
	// event or note is about; empty for a recipe's one unnamed output.
	OutputName string `json:"output_name,omitempty"`
	// InstanceType is the instance type ("container" or "vm") whose
	// rootfs stage or packing an event comes from.
	InstanceType string `json:"instance_type,omitempty"`
	// Stages is the time in seconds per stage of the build (build_end):
	// bootstrap, repositories, packages, files, runs, finalize, pack,
	// import.
	Stages map[string]float64 `json:"stages,omitempty"`
	// Configuration names the test configuration (`unprivileged`,
	// `nic`, `vm` …) a config_start, check, config_end or output event
	// of `builder test` belongs to; Configurations lists those a test
	// runs (test_start).
	Configuration  string   `json:"configuration,omitempty"`
	Configurations []string `json:"configurations,omitempty"`
	// Instance is the instance a configuration runs in (config_start).
	Instance string `json:"instance,omitempty"`
	// Check is a check's name (`start`, `exec`, `test:NAME` …) and
	// Detail what it saw, a line or a few (check).
	Check  string `json:"check,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Passed and Failed count the checks that passed and failed
	// (test_end); pointers so that a zero is still written.
	Passed *int `json:"passed,omitempty"`
	Failed *int `json:"failed,omitempty"`
}

// OutputRef is one output of a build: its name (empty for a recipe's
// one unnamed output), type, directory and, once packed, fingerprint.
type OutputRef struct {
	Name        string `json:"name,omitempty"`
	Type        string `json:"type"`
	Dir         string `json:"output"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Step identifies a recipe step and where the recipe declares it.
type Step struct {
	Index int    `json:"index"`
	Total int    `json:"total"`
	Kind  string `json:"kind"`
	Name  string `json:"name,omitempty"`
	Stage string `json:"stage"`
	File  string `json:"file,omitempty"`
	Line  int    `json:"line,omitempty"`
}

// Failure is why a step or build failed: the message, and for a command
// that failed, the command, its exit status and its last output lines.
type Failure struct {
	Message string `json:"message"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Command string `json:"command,omitempty"`
	// ExitStatus is the command's status; -1 when a signal or the
	// timeout killed it.
	ExitStatus *int     `json:"exit_status,omitempty"`
	TimedOut   bool     `json:"timed_out,omitempty"`
	Tail       []string `json:"tail,omitempty"`
}

// File is an image file.
type File struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Sink receives events. Emit must be safe for concurrent use.
type Sink interface {
	Emit(Event)
}

// Discard drops every event.
type Discard struct{}

func (Discard) Emit(Event) {}

// JSON writes each event as one line of JSON.
type JSON struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewJSON returns a sink writing NDJSON to w.
func NewJSON(w io.Writer) *JSON {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &JSON{enc: enc}
}

func (j *JSON) Emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	j.mu.Lock()
	defer j.mu.Unlock()
	// A lost event must not fail the build; the reader is gone anyway.
	_ = j.enc.Encode(e)
}

// Tee sends every event to each sink in turn.
type Tee []Sink

func (t Tee) Emit(e Event) {
	for _, s := range t {
		s.Emit(e)
	}
}

// Decode reads NDJSON events from r into sink until r ends. A line that
// is not an event (a stray print) is passed on as output, not lost.
func Decode(r io.Reader, sink Sink) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Type == "" {
			sink.Emit(Event{Time: time.Now(), Type: Output, Line: sc.Text()})
			continue
		}
		sink.Emit(e)
	}
	return sc.Err()
}
