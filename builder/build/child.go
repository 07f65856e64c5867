package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/isolation"
	"github.com/builder-images/builder/builder/recipe"
	"github.com/builder-images/builder/builder/stage"
)

// HelperMain runs builder's binary as the sandbox helper a command in the
// image runs in (see isolation.SandboxMain) when args, the command line
// without the program's name, ask for it, and returns its exit status.
// main calls it first: the helper runs before flags or anything else
// that could leak into the command it becomes.
func HelperMain(args []string) (code int, handled bool) {
	if len(args) == 0 || args[0] != isolation.SandboxArg {
		return 0, false
	}
	return isolation.SandboxMain(args[1:]), true
}

// StageCommand is the hidden command builder runs itself with as the
// isolated rootfs stage (see RunStage).
const StageCommand = "__rootfs-stage"

// StageRequest is everything the isolated stage is given, once, as JSON
// on its stdin: the plan builder loaded (the child never reads the
// recipe), where to build, and the cache. It holds sensitive values in
// clear, which is why it travels through a pipe between builder's own
// processes and never on a command line or in a file.
type StageRequest struct {
	Plan *recipe.Plan
	// Dir is the target directory, absolute.
	Dir   string
	Cache cache.Policy
	// Recipe names the recipe in the cache: its absolute path.
	Recipe string
	// Environ is builder's environment (see stage.Stage.Environ).
	Environ []string
}

type stageRequestJSON struct {
	Plan    json.RawMessage `json:"plan"`
	Dir     string          `json:"dir"`
	Cache   cache.Policy    `json:"cache"`
	Recipe  string          `json:"recipe"`
	Environ []string        `json:"environ"`
}

func (r StageRequest) MarshalJSON() ([]byte, error) {
	plan, err := recipe.MarshalPlan(r.Plan)
	if err != nil {
		return nil, err
	}
	return json.Marshal(stageRequestJSON{Plan: plan, Dir: r.Dir, Cache: r.Cache, Recipe: r.Recipe, Environ: r.Environ})
}

func (r *StageRequest) UnmarshalJSON(data []byte) error {
	var w stageRequestJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	plan, err := recipe.UnmarshalPlan(w.Plan)
	if err != nil {
		return err
	}
	*r = StageRequest{Plan: plan, Dir: w.Dir, Cache: w.Cache, Recipe: w.Recipe, Environ: w.Environ}
	return nil
}

// newStageRequest is the request for building req's plan into dir. The
// child works in builder's directory, but paths are made absolute all
// the same: they name the same files whoever reads them.
func newStageRequest(req RootfsRequest, dir string) ([]byte, error) {
	r := StageRequest{Plan: req.Plan, Dir: dir, Cache: req.Cache, Environ: req.Environ}
	if r.Cache.Dir != "" {
		var err error
		if r.Cache.Dir, err = filepath.Abs(r.Cache.Dir); err != nil {
			return nil, err
		}
		if r.Recipe, err = filepath.Abs(req.Plan.File); err != nil {
			return nil, err
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("preparing the isolated build: %w", err)
	}
	return b, nil
}

// ReportedError is a step's failure the isolated stage has reported as
// the step's end event: builder, reading the events, tells the user.
type ReportedError struct{ Err error }

func (e *ReportedError) Error() string { return e.Err.Error() }
func (e *ReportedError) Unwrap() error { return e.Err }

// RunStage is the isolated child's side: it checks its isolation, reads
// its StageRequest from in and builds the rootfs, writing its events as
// NDJSON to out. mask learns the plan's sensitive values first: the
// events are masked before they leave the child, so that the stream
// never carries a value, whoever reads it.
func RunStage(ctx context.Context, in io.Reader, out io.Writer, mask *events.Masker) error {
	if err := isolation.EnterIsolation(); err != nil {
		return err
	}
	var req StageRequest
	if err := json.NewDecoder(in).Decode(&req); err != nil {
		return fmt.Errorf("reading the isolated build's request: %w", err)
	}
	mask.Add(req.Plan.Secrets()...)
	st := &stage.Stage{Plan: req.Plan, Dir: req.Dir, Out: out, Events: mask.Sink(events.NewJSON(out)),
		Cache: req.Cache, Recipe: req.Recipe, Environ: req.Environ}
	err := st.Run(ctx)
	var stepErr *stage.StepError
	if errors.As(err, &stepErr) {
		return &ReportedError{err}
	}
	return err
}
