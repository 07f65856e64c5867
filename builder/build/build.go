package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/deliver"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/output"
	"github.com/builder-images/builder/builder/recipe"
)

// Request is one build of a loaded recipe.
type Request struct {
	// Plan is the loaded recipe, its output block as the command line
	// left it.
	Plan *recipe.Plan
	// Output is the output directory.
	Output string
	// Created is the image's creation time; Epoch, when set, clamps
	// every file time (SOURCE_DATE_EPOCH).
	Created time.Time
	Epoch   *time.Time
	// Threads bounds the compressors.
	Threads int
	// WorkDir is where the build's work directory is made; "" means
	// beside Output.
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
	// Deliver, when set, receives the image once it is packed.
	Deliver deliver.Target
	// Log receives progress lines for people; TTY says it is a terminal
	// that takes redraws.
	Log io.Writer
	TTY bool
	// Stderr receives the isolated stage's own messages, and the notes
	// about directories kept for inspection.
	Stderr io.Writer
}

// Result is what a build made.
type Result struct {
	// Image is what image.json in Output says.
	Image  image.ImageJSON
	Output string
	// Stages is the time spent in each stage, in order of appearance:
	// the step kinds (see stageOf), pack, import. A failed build's
	// result has them too, as far as it went.
	Stages []StageTime
	// Delivered is set when the request asked for delivery.
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

// Build builds the image the request describes, reporting to sink, and
// delivers it when asked. The rootfs is built in a private work
// directory beside the output (or in WorkDir), which is removed unless
// the build fails and Keep is set; a split image whose every stage and
// packed rootfs are in the cache is packed from the cache alone.
func Build(ctx context.Context, req Request, sink events.Sink) (res Result, err error) {
	req.Stderr = orDiscard(req.Stderr)
	clock := newStageClock(sink)
	defer func() { res.Stages = clock.times() }()
	j, err := buildImage(ctx, req, clock)
	if err != nil {
		return res, err
	}
	res.Image, res.Output = j, req.Output
	// The text views show the files in the summary instead.
	for _, f := range j.Files {
		clock.Emit(events.Event{Time: time.Now(), Type: events.Artifact,
			File: &events.File{Name: f.Name, Role: string(f.Role), SHA256: f.SHA256, Size: f.Size}, Fingerprint: j.Fingerprint})
	}
	if req.Deliver == nil {
		return res, nil
	}
	start := time.Now()
	d, err := req.Deliver.Deliver(ctx, req.Output, j)
	if err != nil {
		return res, err
	}
	uploaded := d.Uploaded
	clock.Emit(events.Event{Time: time.Now(), Type: events.Import, Fingerprint: d.Fingerprint, Daemon: d.Where, Uploaded: &uploaded, Aliases: d.Aliases})
	clock.add("import", time.Since(start).Seconds())
	res.Delivered = &d
	return res, nil
}

// buildImage makes the image files: from the cache, or by building the
// rootfs and packing it.
func buildImage(ctx context.Context, req Request, clock *stageClock) (_ image.ImageJSON, err error) {
	warn := func(err error) {
		clock.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cleanup", Line: "warning: " + err.Error()})
	}
	popts := output.PackOptions{Plan: req.Plan, Output: req.Output, Created: req.Created, Epoch: req.Epoch,
		Threads: req.Threads, Log: req.Log, TTY: req.TTY, Warn: warn}
	// Before anything is built: an output directory the image cannot
	// replace is found in a second rather than after the rootfs stage.
	if err := output.CheckOutput(req.Plan, req.Output, warn); err != nil {
		var foreign *image.ForeignOutputError
		if errors.As(err, &foreign) {
			return image.ImageJSON{}, &RequestError{err}
		}
		return image.ImageJSON{}, err
	}
	var reuse *packReuse
	c, unlock, err := req.Cache.Lock(ctx)
	if err != nil {
		return image.ImageJSON{}, err
	}
	defer unlock()
	if c != nil {
		c.Report = reportDamage(clock)
		if reuse, err = lookupPackReuse(c, req.Cache, req.Plan, req.Epoch, req.Environ); err != nil {
			return image.ImageJSON{}, err
		}
		if reuse.hit != nil {
			// The copy checks the kept file's sha256 on the way: a
			// damaged one is dropped and the image built as on a miss.
			reused := popts
			reused.Reuse = reuse.hit
			packStart := time.Now()
			j, err := output.Pack(ctx, reused)
			switch {
			case err == nil:
				reuse.reportHit(clock, req.Plan)
				reuse.recordHit(clock, req.Plan)
				clock.add("pack", time.Since(packStart).Seconds())
				return j, nil
			case !errors.Is(err, output.ErrReusedChanged):
				return image.ImageJSON{}, err
			}
			clock.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cache", Line: err.Error() + "; removing it and building without it"})
			if err := c.RemovePack(reuse.key); err != nil {
				return image.ImageJSON{}, err
			}
			reuse.hit = nil
		}
	}
	parent := req.WorkDir
	if parent == "" {
		parent = filepath.Dir(req.Output)
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return image.ImageJSON{}, fmt.Errorf("creating %s: %w", parent, err)
	}
	work, err := newWorkDir(parent, c, clock)
	if err != nil {
		return image.ImageJSON{}, err
	}
	kept := false
	defer func() {
		if kept {
			err = errors.Join(err, work.Keep())
		} else {
			err = errors.Join(err, work.Remove())
		}
		if c != nil {
			if fErr := c.ForgetWorkDir(work.Path); fErr != nil {
				warn(fErr)
			}
		}
	}()
	rootfsReq := RootfsRequest{Plan: req.Plan, Dir: filepath.Join(work.Path, "rootfs"), Keep: req.Keep, Cache: req.Cache,
		Environ: req.Environ, Log: req.Log, Stderr: req.Stderr}
	dir, err := runStage(ctx, rootfsReq, clock)
	if err != nil {
		kept = req.Keep
		return image.ImageJSON{}, err
	}
	popts.Rootfs = dir
	packStart := time.Now()
	j, err := output.Pack(ctx, popts)
	clock.add("pack", time.Since(packStart).Seconds())
	if err != nil {
		if req.Keep {
			kept = true
			fmt.Fprintf(req.Stderr, "builder: keeping %s for inspection (--on-error=abort)\n", dir)
		}
		return image.ImageJSON{}, err
	}
	if reuse != nil {
		reuse.store(clock, req.Output, j)
	}
	return j, nil
}
