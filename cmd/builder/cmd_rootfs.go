package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/isolation"
	"github.com/builder-images/builder/builder/recipe"
	"github.com/builder-images/builder/builder/stage"
)

type rootfsOptions struct {
	recipeOptions
	cacheOptions
	keepOnError bool
}

// stageCommand is the hidden command the isolated child runs.
const stageCommand = "__rootfs-stage"

func (a *app) newRootfsCommand() *cobra.Command {
	opts := &rootfsOptions{}
	cmd := &cobra.Command{
		Use:   "rootfs RECIPE DIR",
		Short: "Build a recipe's root filesystem into a directory (as root)",
		Long: `Rootfs runs the recipe's bootstrap and every enabled step into DIR, the
first half of 'builder build' (distrobuilder's build-dir). DIR must not
exist or be empty.

The build runs in its own mount and PID namespaces: every mount it makes
and every process it starts end with it, even when builder is killed.
On failure DIR is removed, unless --keep-on-error keeps it for inspection.

Like build, it starts from the longest cached prefix of the build and
keeps snapshots for the next one (--cache-dir, --no-cache, --cache-ttl).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runRootfs(cmd.Context(), opts, args[0], args[1])
		},
	}
	opts.recipeOptions.AddFlags(cmd.Flags())
	cmd.Flags().BoolVar(&opts.keepOnError, "keep-on-error", false, "keep DIR when the build fails, for inspection")
	opts.cacheOptions.AddFlags(cmd.Flags(), a.environ)
	a.addRecipeCompletion(cmd)
	return cmd
}

func (a *app) runRootfs(ctx context.Context, opts *rootfsOptions, recipePath, dir string) error {
	plan, err := a.loadForBuild(&opts.recipeOptions, recipePath)
	if err != nil {
		return err
	}
	stageFlags, err := opts.cacheOptions.stageFlags(recipePath)
	if err != nil {
		return err
	}
	_, unlock, err := opts.cacheOptions.lockCache(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	rep := a.newReporter(reportMode{})
	abs, err := a.buildRootfs(ctx, &opts.recipeOptions, recipePath, dir, opts.keepOnError, rep, stageFlags...)
	rep.close()
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "rootfs of %s is in %s\n", plan.Image.Name, abs)
	return nil
}

// buildRootfs runs the isolated rootfs stage into dir. On failure dir is
// removed (after proving nothing is mounted there) unless keep.
func (a *app) buildRootfs(ctx context.Context, opts *recipeOptions, recipePath, dir string, keep bool, rep *reporter, stageFlags ...string) (string, error) {
	if os.Geteuid() != 0 {
		return "", errors.New("building a rootfs needs root: it mounts, chroots and creates device nodes (run builder with sudo)")
	}
	abs, created, err := prepareTarget(dir)
	if err != nil {
		return "", err
	}
	start := time.Now()
	args := append([]string{stageCommand, "--events", "--dir", abs}, stageFlags...)
	for _, v := range opts.vars {
		args = append(args, "--var", v)
	}
	for _, f := range opts.varFiles {
		args = append(args, "--var-file", f)
	}
	args = append(args, recipePath)
	// The child reports on its stdout as events; builder renders them.
	pr, pw := io.Pipe()
	decoded := make(chan error, 1)
	go func() {
		err := events.Decode(pr, rep)
		_, _ = io.Copy(io.Discard, pr)
		decoded <- err
	}()
	buildErr := isolation.RunIsolated(ctx, args, pw, a.stderr)
	pw.Close()
	if err := <-decoded; err != nil && buildErr == nil {
		buildErr = fmt.Errorf("reading the build's events: %w", err)
	}
	if buildErr == nil {
		fmt.Fprintf(rep.logOut, "<== rootfs built in %s\n", time.Since(start).Round(time.Second))
		return abs, nil
	}
	if keep {
		fmt.Fprintf(a.stderr, "builder: keeping %s for inspection (--keep-on-error)\n", abs)
	} else if err := removeTarget(abs, created); err != nil {
		buildErr = errors.Join(buildErr, err)
	}
	var isolated *isolation.IsolatedExitError
	if errors.As(buildErr, &isolated) {
		if _, f := rep.failed(); f != nil && ctx.Err() == nil {
			rep.summarize()
			return "", &exitError{code: exitFailure, silent: true, err: buildErr}
		}
		return "", &exitError{code: exitFailure, silent: isolated.Reported(), err: buildErr}
	}
	return "", buildErr
}

// prepareTarget makes DIR an empty directory, creating it when missing.
func prepareTarget(dir string) (abs string, created bool, err error) {
	abs, err = filepath.Abs(dir)
	if err != nil {
		return "", false, fmt.Errorf("resolving %s: %w", dir, err)
	}
	entries, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return "", false, fmt.Errorf("creating %s: %w", abs, err)
		}
		return abs, true, nil
	case err != nil:
		return "", false, fmt.Errorf("%s: %w", abs, err)
	case len(entries) > 0:
		return "", false, usageError{fmt.Errorf("%s is not empty; give a new or empty directory", abs)}
	}
	return abs, false, nil
}

// removeTarget removes what a failed build left, proving first that
// nothing is mounted there; a directory the user made stays, empty.
func removeTarget(abs string, created bool) error {
	if err := isolation.RemoveTree(abs); err != nil {
		return err
	}
	if !created {
		if err := os.Mkdir(abs, 0o755); err != nil {
			return fmt.Errorf("recreating %s: %w", abs, err)
		}
	}
	return nil
}

// newStageCommand is the isolated child of 'builder rootfs'.
func (a *app) newStageCommand() *cobra.Command {
	opts := &recipeOptions{}
	var dir string
	var asEvents bool
	var cached stageCacheFlags
	cmd := &cobra.Command{
		Use:    stageCommand + " RECIPE",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := isolation.EnterIsolation(); err != nil {
				return err
			}
			plan, diags, _ := opts.load(a, args[0])
			if diags.HasErrors() {
				return fmt.Errorf("the recipe changed since it was checked: %s", diags.Error())
			}
			stageCache, err := cached.open()
			if err != nil {
				return err
			}
			return a.runStage(cmd.Context(), plan, dir, asEvents, stageCache)
		},
	}
	opts.AddFlags(cmd.Flags())
	cmd.Flags().StringVar(&dir, "dir", "", "target directory")
	cmd.Flags().BoolVar(&asEvents, "events", false, "report as NDJSON events on stdout")
	cached.addFlags(cmd.Flags())
	return cmd
}

func (a *app) runStage(ctx context.Context, plan *recipe.Plan, dir string, asEvents bool, stageCache *stage.Cache) error {
	st := &stage.Stage{Plan: plan, Dir: dir, Out: a.stdout, Cache: stageCache, Environ: a.environ}
	if !asEvents {
		return st.Run(ctx)
	}
	// Masked here, before the events leave the isolated child: builder
	// masks them again, but the stream must not carry a value at all.
	st.Events = a.mask.Sink(events.NewJSON(a.stdout))
	err := st.Run(ctx)
	var stepErr *stage.StepError
	if errors.As(err, &stepErr) {
		// The step_end event carries the failure; builder reports it.
		return &exitError{code: exitFailure, silent: true, err: err}
	}
	return err
}
