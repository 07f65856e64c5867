package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/deliver"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/output"
	"github.com/builder-images/builder/builder/recipe"
)

// Request is one build of a loaded recipe: the outputs it selects, each
// packed from the rootfs of its instance type.
type Request struct {
	// Plans are the recipe evaluated once for each instance type the
	// outputs need (recipe.Plan.InstanceType). The rootfs stages run in
	// this order, so that a later type's stage restores the steps it
	// shares with an earlier one from the snapshots that one stored.
	Plans []*recipe.Plan
	// Outputs are the outputs to build, in the recipe's order.
	Outputs []Target
	// Created is the image's creation time; Epoch, when set, clamps
	// every file time (SOURCE_DATE_EPOCH).
	Created time.Time
	Epoch   *time.Time
	// Threads bounds the compressors.
	Threads int
	// WorkDir is where the build's work directory is made; "" means
	// beside the first output's directory.
	WorkDir string
	// Keep keeps the work directory of a failed build for inspection.
	Keep bool
	// Cache is how the build uses the stage cache (none when its Dir
	// is empty): the packed rootfs of an identical build, the stages'
	// snapshots.
	Cache cache.Policy
	// Environ is builder's environment: the rootfs stage passes proxies
	// and SOURCE_DATE_EPOCH on to the build's commands.
	Environ []string
	// Log receives progress lines for people; TTY says it is a terminal
	// that takes redraws.
	Log io.Writer
	TTY bool
	// Stderr receives the isolated stage's own messages, and the notes
	// about directories kept for inspection.
	Stderr io.Writer
}

// Target is one output of a build: its settings as the command line
// left them, its directory and where it goes once built.
type Target struct {
	Output recipe.Output
	// Dir is the output directory (see OutputDir).
	Dir string
	// Deliver, when set, receives the image once every output of the
	// build is packed: a build that fails delivers nothing.
	Deliver deliver.Target
}

// OutputDir is where out goes in a build whose output directory is
// root: root itself for an unnamed output (a recipe with one output
// block, unlabelled), root/NAME for a named one.
func OutputDir(root string, out recipe.Output) string {
	if out.Name == "" {
		return root
	}
	return filepath.Join(root, out.Name)
}

// Result is what a build made.
type Result struct {
	// Outputs are the outputs packed, in the request's order; a failed
	// build's has those packed before it failed.
	Outputs []OutputResult
	// Stages is the time spent in each stage, in order of appearance:
	// the step kinds (see stageOf), pack, import, added up over the
	// instance types and outputs. A failed build's result has them
	// too, as far as it went.
	Stages []StageTime
}

// OutputResult is one output a build packed.
type OutputResult struct {
	// Name is the output's ("" for an unnamed one); Type its type.
	Name, Type string
	// Dir is the output directory; Image what its image.json says.
	Dir   string
	Image image.ImageJSON
	// Delivered is set when the output's target asked for delivery.
	Delivered *deliver.Result
}

// StageTime is the time spent in one stage of a build.
type StageTime struct {
	Name    string
	Seconds float64
}

// RequestError is a request that cannot be carried out as given: an
// output directory that holds what builder did not write, a target
// directory that is not empty.
type RequestError struct{ Err error }

func (e *RequestError) Error() string { return e.Err.Error() }
func (e *RequestError) Unwrap() error { return e.Err }

// Build builds every output the request selects, reporting to sink,
// and delivers them when asked. The outputs are grouped by instance
// type: each type's rootfs is built once, in a private work directory
// beside the first output (or in WorkDir), and each of its outputs is
// packed from it. A type whose every output's image file is in the
// cache, with every stage, is packed from the cache alone. The work
// directory is removed unless the build fails and Keep is set. Each
// output directory is replaced whole, or not at all (see output.Pack).
func Build(ctx context.Context, req Request, sink events.Sink) (res Result, err error) {
	req.Stderr = orDiscard(req.Stderr)
	clock := newStageClock(sink)
	defer func() { res.Stages = clock.times() }()
	groups, err := groupOutputs(req)
	if err != nil {
		return res, err
	}
	b := &builder{req: req, clock: clock, started: time.Now(), packed: make([]*OutputResult, len(req.Outputs))}
	defer func() { res.Outputs = b.results() }()
	if err := b.checkOutputs(groups); err != nil {
		return res, err
	}
	c, unlock, err := req.Cache.Lock(ctx)
	if err != nil {
		return res, err
	}
	defer unlock()
	// The work directory goes while the cache is still held, as the
	// cache records it.
	defer func() { err = errors.Join(err, b.close(err != nil && req.Keep)) }()
	b.cache = c
	if c != nil {
		c.Report = reportDamage(clock)
	}
	for i, g := range groups {
		if err := b.buildGroup(ctx, g, groups[i+1:]); err != nil {
			return res, err
		}
	}
	return res, b.deliverAll(ctx)
}

// deliverAll hands each packed output to its target, in order.
func (b *builder) deliverAll(ctx context.Context) error {
	for i, t := range b.req.Outputs {
		if t.Deliver == nil {
			continue
		}
		r := b.packed[i]
		start := time.Now()
		d, err := t.Deliver.Deliver(ctx, r.Dir, r.Image)
		if err != nil {
			return outputError(t.Output, err)
		}
		uploaded := d.Uploaded
		b.clock.Emit(events.Event{Time: time.Now(), Type: events.Import, OutputName: t.Output.Name, Fingerprint: d.Fingerprint,
			Daemon: d.Where, Uploaded: &uploaded, Aliases: d.Aliases})
		b.clock.add("import", time.Since(start).Seconds())
		r.Delivered = &d
	}
	return nil
}

// group is an instance type's plan and the outputs packed from its
// rootfs (indexes into Request.Outputs).
type group struct {
	plan    *recipe.Plan
	outputs []int
}

// groupOutputs sorts the request's outputs by instance type, in the
// order of Plans, refusing a request that cannot be right: an output
// with no plan for its type, two outputs in one directory.
func groupOutputs(req Request) ([]group, error) {
	if len(req.Outputs) == 0 {
		return nil, errors.New("the build has no output to make")
	}
	var groups []group
	for _, p := range req.Plans {
		if slices.ContainsFunc(groups, func(g group) bool { return g.plan.InstanceType == p.InstanceType }) {
			return nil, fmt.Errorf("two plans for the instance type %q", p.InstanceType)
		}
		g := group{plan: p}
		for i, t := range req.Outputs {
			if t.Output.InstanceType() == p.InstanceType {
				g.outputs = append(g.outputs, i)
			}
		}
		if len(g.outputs) > 0 {
			groups = append(groups, g)
		}
	}
	dirs := map[string]string{}
	for _, t := range req.Outputs {
		if !slices.ContainsFunc(req.Plans, func(p *recipe.Plan) bool { return p.InstanceType == t.Output.InstanceType() }) {
			return nil, fmt.Errorf("output %s: the recipe was not evaluated for the instance type %q", displayName(t.Output), t.Output.InstanceType())
		}
		abs, err := filepath.Abs(t.Dir)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", t.Dir, err)
		}
		if other, ok := dirs[abs]; ok {
			return nil, &RequestError{fmt.Errorf("outputs %s and %s both go to %s", other, displayName(t.Output), abs)}
		}
		dirs[abs] = displayName(t.Output)
	}
	return groups, nil
}

// planFor is the group's plan as output t packs it: its Output is t's.
func planFor(g group, t Target) *recipe.Plan {
	p := *g.plan
	p.Output = t.Output
	return &p
}

// checkOutputs checks, before anything is built, that every output
// directory can take its image: one the image cannot replace is found
// in a second rather than after the rootfs stage.
func (b *builder) checkOutputs(groups []group) error {
	for _, g := range groups {
		for _, i := range g.outputs {
			t := b.req.Outputs[i]
			if err := output.CheckOutput(planFor(g, t), t.Dir, b.warn); err != nil {
				var foreign *image.ForeignOutputError
				if errors.As(err, &foreign) {
					return &RequestError{outputError(t.Output, err)}
				}
				return outputError(t.Output, err)
			}
		}
	}
	return nil
}

// outputError names the output an error is about, when it has a name:
// the build of a recipe's only, unnamed, output says what it always has.
func outputError(out recipe.Output, err error) error {
	if out.Name == "" {
		return err
	}
	return fmt.Errorf("output %s: %w", out.Name, err)
}

// displayName is an output's name in messages.
func displayName(out recipe.Output) string {
	if out.Name == "" {
		return "(unnamed)"
	}
	return out.Name
}
