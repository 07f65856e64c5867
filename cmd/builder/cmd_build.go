package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/output"
	"github.com/builder-images/builder/builder/stage"
)

type buildOptions struct {
	recipeOptions
	outputOptions
	cacheOptions
	deliveryOptions
	keepOnError bool
	workDir     string
	// importAlias is --import's value: importDefault for a bare --import.
	importAlias string
	asJSON      bool
	quiet       bool
	onError     string
	timeout     time.Duration
	job         string
}

// keep reports whether a failed build's work directory stays: --on-error
// abort (Packer's word) or --keep-on-error.
func (o *buildOptions) keep() (bool, error) {
	switch o.onError {
	case "cleanup":
		return o.keepOnError, nil
	case "abort":
		return true, nil
	}
	return false, usageError{fmt.Errorf("--on-error must be cleanup or abort, not %q", o.onError)}
}

// importDefault marks a bare --import: the image name and the recipe's
// aliases, or --alias values.
const importDefault = "\x00default"

func (a *app) newBuildCommand() *cobra.Command {
	opts := &buildOptions{}
	cmd := &cobra.Command{
		Use:   "build RECIPE",
		Short: "Build a recipe into LXD/Incus image files (as root)",
		Long: `Build runs 'builder rootfs' into a work directory and 'builder pack' on
the result, then removes the work directory: the image files, SHA256SUMS
and image.json land in --output (default out/IMAGE-NAME).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runBuild(cmd.Context(), opts, args[0])
		},
	}
	opts.recipeOptions.AddFlags(cmd.Flags())
	opts.outputOptions.AddFlags(cmd.Flags())
	cmd.Flags().BoolVar(&opts.keepOnError, "keep-on-error", false, "keep the rootfs when the build fails, for inspection")
	cmd.Flags().StringVar(&opts.workDir, "work-dir", "", "where the rootfs is built (default: beside the output directory)")
	cmd.Flags().StringVar(&opts.importAlias, "import", "", "import the image into LXD/Incus when built; --import=ALIAS names it (see 'builder import' for the delivery flags)")
	cmd.Flags().Lookup("import").NoOptDefVal = importDefault
	opts.deliveryOptions.AddFlags(cmd.Flags())
	opts.cacheOptions.AddFlags(cmd.Flags(), a.environ)
	cmd.Flags().StringVar(&opts.job, "job", "", "build one job of the recipe's matrix (see 'builder matrix')")
	cmd.Flags().StringVar(&opts.onError, "on-error", "cleanup", "when the build fails: cleanup (remove the work directory) or abort (stop and keep it, as --keep-on-error)")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 0, "stop the build (exit 1) when it takes longer, e.g. 45m; 0 means no limit")
	cmd.Flags().BoolVarP(&opts.quiet, "quiet", "q", false, "print only errors and the final summary")
	cmd.Flags().BoolVar(&opts.asJSON, "json", false, "print the build as NDJSON events on stdout (docs/events.md); the log goes to stderr")
	a.addRecipeCompletion(cmd)
	return cmd
}

func (a *app) runBuild(ctx context.Context, opts *buildOptions, recipePath string) (err error) {
	rep := a.newReporter(reportMode{json: opts.asJSON, quiet: opts.quiet})
	start := time.Now()
	end := events.Event{Type: events.BuildEnd}
	defer func() {
		end.Time, end.Duration, end.Status = time.Now(), time.Since(start).Seconds(), events.StatusOK
		end.Stages = rep.stageTimes()
		switch {
		case err != nil && ctx.Err() != nil:
			end.Status = events.StatusInterrupted
		case err != nil:
			end.Status = events.StatusFailed
			var te *timeoutError
			if _, f := rep.failed(); f != nil && !errors.As(err, &te) {
				end.Error = f
			} else {
				end.Error = &events.Failure{Message: err.Error()}
			}
		}
		if opts.asJSON {
			rep.Emit(end)
		}
	}()
	defer rep.close()
	keepOnError, err := opts.keep()
	if err != nil {
		return err
	}
	if opts.timeout < 0 {
		return usageError{fmt.Errorf("--timeout must not be negative")}
	}
	if opts.job != "" {
		if err := a.applyJob(&opts.recipeOptions, recipePath, opts.job); err != nil {
			return err
		}
	}
	plan, err := a.loadForBuild(&opts.recipeOptions, recipePath)
	if err != nil {
		return err
	}
	if err := opts.apply(plan); err != nil {
		return err
	}
	if opts.importAlias == "" && opts.delivering() {
		return usageError{errors.New("the delivery flags (--alias, --remote, …) need --import")}
	}
	popts, err := opts.packOptions(a, plan, "")
	if err != nil {
		return err
	}
	popts.Log = rep.logOut
	if opts.asJSON || opts.quiet {
		popts.TTY = false
	}
	if opts.asJSON {
		rep.Emit(events.Event{Time: start, Type: events.BuildStart, Recipe: recipePath, Image: plan.Image.Name, Output: popts.Output})
	}
	buildCtx := ctx
	if opts.timeout > 0 {
		var cancel context.CancelFunc
		buildCtx, cancel = context.WithTimeout(ctx, opts.timeout)
		defer cancel()
	}
	j, err := a.buildImage(buildCtx, opts, recipePath, popts, keepOnError, rep)
	if err != nil {
		if errors.Is(buildCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return &exitError{code: exitFailure, err: &timeoutError{opts.timeout}}
		}
		return err
	}
	end.Fingerprint, end.Output = j.Fingerprint, popts.Output
	rep.artifacts(j)
	if opts.importAlias == "" {
		rep.summary(a.stdout, popts.Output, j, time.Since(start))
		return nil
	}
	if opts.importAlias != importDefault {
		opts.aliases = append([]string{opts.importAlias}, opts.aliases...)
	}
	importStart := time.Now()
	res, err := a.deliver(buildCtx, &opts.deliveryOptions, popts.Output, j, rep.logOut, rep.tty)
	if err != nil {
		if errors.Is(buildCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return &exitError{code: exitFailure, err: &timeoutError{opts.timeout}}
		}
		return err
	}
	uploaded := res.Uploaded
	imp := events.Event{Time: time.Now(), Type: events.Import, Fingerprint: res.Fingerprint, Daemon: res.Where, Uploaded: &uploaded}
	for _, c := range res.Aliases {
		imp.Aliases = append(imp.Aliases, c.Name)
	}
	rep.Emit(imp)
	rep.addStage("import", time.Since(importStart).Seconds())
	rep.summary(a.stdout, popts.Output, j, time.Since(start))
	return nil
}

// buildImage builds the rootfs in a private work directory beside the
// output (or in --work-dir) and packs it; the work directory is removed
// unless the build fails and keep is set.
func (a *app) buildImage(ctx context.Context, opts *buildOptions, recipePath string, popts output.PackOptions, keep bool, rep *reporter) (_ image.ImageJSON, err error) {
	warn := func(err error) {
		rep.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cleanup", Line: "warning: " + err.Error()})
	}
	popts.Warn = warn
	// Before anything is built: an output directory the image cannot
	// replace is a usage error, found in a second rather than after
	// the rootfs stage.
	if err := output.CheckOutput(popts.Plan, popts.Output, warn); err != nil {
		var foreign *image.ForeignOutputError
		if errors.As(err, &foreign) {
			return image.ImageJSON{}, usageError{err}
		}
		return image.ImageJSON{}, err
	}
	var reuse *packReuse
	c, unlock, err := opts.cacheOptions.lockCache(ctx)
	if err != nil {
		return image.ImageJSON{}, err
	}
	defer unlock()
	if c != nil {
		c.Report = reportDamage(rep)
		if reuse, err = lookupPackReuse(c, &opts.cacheOptions, popts.Plan, popts.Epoch, a.environ); err != nil {
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
				reuse.reportHit(rep, popts.Plan)
				reuse.recordHit(rep, recipePath, popts.Plan)
				rep.addStage("pack", time.Since(packStart).Seconds())
				return j, nil
			case !errors.Is(err, output.ErrReusedChanged):
				return image.ImageJSON{}, err
			}
			rep.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cache", Line: err.Error() + "; removing it and building without it"})
			if err := c.RemovePack(reuse.key); err != nil {
				return image.ImageJSON{}, err
			}
			reuse.hit = nil
		}
	}
	parent := opts.workDir
	if parent == "" {
		parent = filepath.Dir(popts.Output)
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return image.ImageJSON{}, fmt.Errorf("creating %s: %w", parent, err)
	}
	work, err := a.newWorkDir(parent, c, rep)
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
	stageFlags, err := opts.cacheOptions.stageFlags(recipePath)
	if err != nil {
		return image.ImageJSON{}, err
	}
	dir, err := a.buildRootfs(ctx, &opts.recipeOptions, recipePath, filepath.Join(work.Path, "rootfs"), keep, rep, stageFlags...)
	if err != nil {
		kept = keep
		return image.ImageJSON{}, err
	}
	popts.Rootfs = dir
	packStart := time.Now()
	j, err := output.Pack(ctx, popts)
	rep.addStage("pack", time.Since(packStart).Seconds())
	if err != nil {
		if keep {
			kept = true
			fmt.Fprintf(a.stderr, "builder: keeping %s for inspection (--on-error=abort)\n", dir)
		}
		return image.ImageJSON{}, err
	}
	if reuse != nil {
		reuse.store(rep, popts.Output, j)
	}
	return j, nil
}

// newWorkDir removes the work directories builds killed in parent left
// (kill -9 gives a build no chance to), then makes this build's, owned by
// this process and recorded in the cache, if any, for 'builder cache
// prune' to find should this build be killed too.
func (a *app) newWorkDir(parent string, c *cache.Cache, rep *reporter) (*stage.WorkDir, error) {
	removed, err := stage.RemoveStaleWorkDirs(parent)
	for _, dir := range removed {
		rep.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cleanup", Line: "removed " + dir + ", the work directory of a build that was killed"})
	}
	if err != nil {
		// Another build's mess does not stop this one.
		rep.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cleanup", Line: "warning: " + err.Error()})
	}
	work, err := stage.NewWorkDir(parent)
	if err != nil {
		return nil, err
	}
	if c != nil {
		if err := c.RecordWorkDir(work.Path); err != nil {
			rep.Emit(events.Event{Time: time.Now(), Type: events.Output, Label: "cache", Line: "warning: " + err.Error() + "; cache prune will not find it"})
		}
	}
	return work, nil
}

// timeoutError is a build stopped by --timeout.
type timeoutError struct{ limit time.Duration }

func (e *timeoutError) Error() string {
	return fmt.Sprintf("the build took longer than --timeout %s and was stopped", e.limit)
}
