package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/isolation"
	"github.com/builder-images/builder/builder/output"
	"github.com/builder-images/builder/builder/recipe"
)

// builder is one Build under way: its cache, its work directory (made
// when a rootfs stage first needs one) and the outputs packed so far.
type builder struct {
	req     Request
	clock   *stageClock
	cache   *cache.Cache // nil: the build uses none
	started time.Time
	work    *WorkDir
	// stages counts the rootfs stages run so far.
	stages int
	// shared is the build-private cache the stages of a build without a
	// cache share their common steps through; "" when not used.
	shared string
	// packed are the outputs packed, indexed as Request.Outputs.
	packed []*OutputResult
}

// results are the outputs packed, in the request's order.
func (b *builder) results() []OutputResult {
	var out []OutputResult
	for _, p := range b.packed {
		if p != nil {
			out = append(out, *p)
		}
	}
	return out
}

func (b *builder) warn(err error) {
	b.clock.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cleanup", Line: "warning: " + err.Error()})
}

// buildGroup makes the outputs of one instance type: from the cache
// alone when every one of them and every stage is there, otherwise by
// running the type's rootfs stage and packing each from its rootfs.
// later are the groups still to build after it.
func (b *builder) buildGroup(ctx context.Context, g group, later []group) error {
	sink := typedSink{sink: b.clock, instanceType: g.plan.InstanceType}
	reuse := make([]*packReuse, len(g.outputs))
	allHit := b.cache != nil
	for k, i := range g.outputs {
		if b.cache == nil {
			break
		}
		r, err := lookupPackReuse(b.cache, b.req.Cache, planFor(g, b.req.Outputs[i]), b.req.Epoch, b.req.Environ)
		if err != nil {
			return outputError(b.req.Outputs[i].Output, err)
		}
		reuse[k] = r
		allHit = allHit && r.hit != nil
	}
	left := g.outputs
	if allHit {
		// Every output's file is kept: no rootfs is needed, unless one
		// of them turns out damaged (its copy checks the sha256).
		left = nil
		var hits []int
		for k, i := range g.outputs {
			_, err := b.pack(ctx, g, i, "", reuse[k], sink)
			switch {
			case err == nil:
				hits = append(hits, k)
			case errors.Is(err, output.ErrReusedChanged):
				left = append(left, i)
			default:
				return err
			}
		}
		if len(left) == 0 {
			reuse[0].reportStageHit(sink, g.plan)
			reuse[0].recordHit(sink, g.plan)
		}
		for _, k := range hits {
			reuse[k].reportPackHit(sink, b.req.Outputs[g.outputs[k]].Output.Name)
		}
		if len(left) == 0 {
			return nil
		}
	}
	dir, err := b.stage(ctx, g, later, sink)
	if err != nil {
		return err
	}
	for k, i := range g.outputs {
		if b.packed[i] != nil {
			continue
		}
		reused, err := b.pack(ctx, g, i, dir, reuse[k], sink)
		if err != nil {
			return err
		}
		if reused {
			reuse[k].reportPackHit(sink, b.req.Outputs[i].Output.Name)
		}
	}
	if len(later) > 0 {
		// The next type's rootfs needs the room.
		if err := isolation.RemoveTree(dir); err != nil {
			return fmt.Errorf("removing the %s rootfs: %w", g.plan.InstanceType, err)
		}
	}
	return nil
}

// pack packs output i of the group: from rootfs, or with rootfs ""
// from the cache alone, when r has the output's file. A kept file found
// damaged is dropped from the cache; without a rootfs the error is
// output.ErrReusedChanged, for the caller to build the rootfs. reused
// says the kept file was used.
func (b *builder) pack(ctx context.Context, g group, i int, rootfs string, r *packReuse, sink events.Sink) (reused bool, err error) {
	t := b.req.Outputs[i]
	opts := output.PackOptions{Plan: planFor(g, t), Rootfs: rootfs, Output: t.Dir, Created: b.req.Created, Epoch: b.req.Epoch,
		Threads: b.req.Threads, Log: b.req.Log, TTY: b.req.TTY, Warn: b.warn}
	if r != nil && r.hit != nil {
		opts.Reuse = r.hit
	}
	start := time.Now()
	packed, err := output.PackImage(ctx, opts)
	if opts.Reuse != nil && errors.Is(err, output.ErrReusedChanged) {
		sink.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cache", OutputName: t.Output.Name, Line: err.Error() + "; removing it and building without it"})
		if rmErr := b.cache.RemovePack(r.key); rmErr != nil {
			return false, outputError(t.Output, rmErr)
		}
		r.hit = nil
		if rootfs == "" {
			return false, err
		}
		opts.Reuse = nil
		packed, err = output.PackImage(ctx, opts)
	}
	b.clock.add("pack", time.Since(start).Seconds())
	if err != nil {
		if rootfs != "" && b.req.Keep {
			fmt.Fprintf(b.req.Stderr, "builder: keeping %s for inspection (--on-error=abort)\n", rootfs)
		}
		return false, outputError(t.Output, err)
	}
	if r != nil {
		r.store(sink, t.Dir, t.Output.Name, packed)
	}
	j := packed.Image
	b.packed[i] = &OutputResult{Name: t.Output.Name, Type: t.Output.Type, Dir: t.Dir, Image: j}
	// The text views show the files in the summary instead.
	for _, f := range j.Files {
		sink.Emit(events.Event{Time: time.Now(), Type: events.Artifact, OutputName: t.Output.Name,
			File: &events.File{Name: f.Name, Role: string(f.Role), SHA256: f.SHA256, Size: f.Size}, Fingerprint: j.Fingerprint})
	}
	return opts.Reuse != nil, nil
}

// stage builds the group's rootfs in the work directory, made on first
// use, and returns its path.
func (b *builder) stage(ctx context.Context, g group, later []group, sink events.Sink) (string, error) {
	if b.work == nil {
		parent := b.req.WorkDir
		if parent == "" {
			parent = filepath.Dir(b.req.Outputs[0].Dir)
		}
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return "", fmt.Errorf("creating %s: %w", parent, err)
		}
		work, err := newWorkDir(parent, b.cache, b.clock)
		if err != nil {
			return "", err
		}
		b.work = work
	}
	name := "rootfs"
	if g.plan.InstanceType != recipe.InstanceContainer {
		name += "-" + g.plan.InstanceType
	}
	req := RootfsRequest{Plan: g.plan, Dir: filepath.Join(b.work.Path, name), Keep: b.req.Keep, Cache: b.stagePolicy(g, later),
		Environ: b.req.Environ, Log: b.req.Log, Stderr: b.req.Stderr}
	b.stages++
	dir, err := runStage(ctx, req, sink)
	if err != nil {
		return "", b.stageError(g, err)
	}
	return dir, nil
}

// stagePolicy is how the group's stage uses the cache. The stages of
// several instance types share the steps their plans have in common
// through the cache: the first stores its snapshots, among them the one
// after the steps every type has alike (recipe.Plan.SharedSteps, a
// point of its own when they end inside a group), and the next restores
// the longest common prefix. A --no-cache
// build's later stages take the snapshots its first stored, and no older
// ones; a build without a cache shares them through a private cache in
// its work directory, removed with it, when the plans start alike.
// Measured on a Debian minbase recipe with a container and a VM output:
// the container stage's snapshots cost 2 s and the VM stage restores
// the bootstrap in 6 s instead of running debootstrap again (46–64 s).
// Keeping a copy of the first rootfs at the point the plans part would
// save the snapshot but needs the stage to stop there and a tree copy.
func (b *builder) stagePolicy(g group, later []group) cache.Policy {
	p := b.req.Cache
	if p.Dir != "" {
		if p.NoCache && b.stages > 0 {
			p.NoCache, p.Since = false, b.started
		}
		return p
	}
	if b.shared == "" && b.stages == 0 && sharesSteps(g, later, b.req.Environ) {
		b.shared = filepath.Join(b.work.Path, "cache")
	}
	if b.shared != "" {
		p.Dir = b.shared
	}
	return p
}

// sharesSteps reports whether a later group's plan starts with the same
// snapshot point as g's: only then can its stage restore anything g's
// stored. A plan whose points cannot be computed is taken to share
// them: its stage will say what is wrong.
func sharesSteps(g group, later []group, environ []string) bool {
	first, err := cache.Points(g.plan, sourceDateEpoch(environ))
	if err != nil {
		return true
	}
	for _, l := range later {
		points, err := cache.Points(l.plan, sourceDateEpoch(environ))
		if err != nil || (len(first) > 0 && len(points) > 0 && points[0].Key == first[0].Key) {
			return true
		}
	}
	return false
}

// stageError names the outputs a failed stage was for, when they have
// names: a build of one unnamed output says what it always has.
func (b *builder) stageError(g group, err error) error {
	var names []string
	for _, i := range g.outputs {
		if n := b.req.Outputs[i].Output.Name; n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return err
	}
	what := "output"
	if len(names) > 1 {
		what = "outputs"
	}
	return fmt.Errorf("the %s rootfs of %s %s: %w", g.plan.InstanceType, what, strings.Join(names, ", "), err)
}

// close removes the work directory, or keeps it for inspection.
func (b *builder) close(keep bool) error {
	if b.work == nil {
		return nil
	}
	var err error
	if keep {
		err = b.work.Keep()
	} else {
		err = b.work.Remove()
	}
	if b.cache != nil {
		if fErr := b.cache.ForgetWorkDir(b.work.Path); fErr != nil {
			b.warn(fErr)
		}
	}
	return err
}

// typedSink marks the events of one instance type's stage and packing
// with the type.
type typedSink struct {
	sink         events.Sink
	instanceType string
}

func (s typedSink) Emit(e events.Event) {
	if e.InstanceType == "" {
		e.InstanceType = s.instanceType
	}
	s.sink.Emit(e)
}
