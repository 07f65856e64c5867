package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/builder-images/builder/builder/build"
	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/deliver"
	"github.com/builder-images/builder/builder/events"
)

type rootfsOptions struct {
	recipeOptions
	selectOptions
	cache       cache.Policy
	keepOnError bool
}

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

A recipe that starts from an existing image (bootstrap "image" or "oci")
has the base it was built on recorded beside DIR, in DIR.builder-base.json,
which 'builder pack DIR' packs the image on.

Like build, it starts from the longest cached prefix of the build and
keeps snapshots for the next one (--cache-dir, --no-cache, --cache-ttl).

The rootfs is built for the instance type (build.type) of the recipe's
first output, or of the output --only names: 'builder rootfs
recipes/debian.hcl DIR --only vm' builds what 'builder pack DIR --only vm'
packs as the VM image.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runRootfs(cmd.Context(), opts, args[0], args[1])
		},
	}
	opts.recipeOptions.AddFlags(cmd.Flags())
	opts.selectOptions.AddFlags(cmd.Flags(), "build the rootfs for this output's instance type (default: the first output's)")
	cmd.Flags().BoolVar(&opts.keepOnError, "keep-on-error", false, "keep DIR when the build fails, for inspection")
	addCacheFlags(cmd.Flags(), &opts.cache, a.environ)
	a.addRecipeCompletion(cmd)
	return cmd
}

func (a *app) runRootfs(ctx context.Context, opts *rootfsOptions, recipePath, dir string) error {
	pl, err := a.newPlanLoader(&opts.recipeOptions, recipePath, "")
	if err != nil {
		return err
	}
	sel, err := pl.selectOutputs(opts.only, nil, false)
	if err != nil {
		return err
	}
	plan := sel.first
	if len(opts.only) > 0 {
		if len(sel.plans) != 1 {
			return usageError{fmt.Errorf("a rootfs is for one instance type, and the outputs --only names are for %d: name outputs of one type", len(sel.plans))}
		}
		plan = sel.plans[0]
	}
	rep := a.newReporter(reportMode{})
	if err := a.resolveBases(ctx, sel, false, rep.logOut); err != nil {
		rep.close()
		return err
	}
	// The base the rootfs is built on is recorded beside it for pack
	// (see build.WriteBaseRecord); an earlier rootfs's record goes first.
	if err := build.RemoveBaseRecord(dir); err != nil {
		rep.close()
		return err
	}
	abs, err := build.Rootfs(ctx, build.RootfsRequest{Plan: plan, Dir: dir, Keep: opts.keepOnError, Cache: opts.cache,
		Environ: a.environ, Log: rep.logOut, Stderr: a.stderr}, rep)
	if err != nil {
		err = a.buildFailure(ctx, err, rep)
	} else {
		err = build.WriteBaseRecord(abs, plan)
	}
	rep.close()
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "rootfs of %s is in %s\n", plan.Image.Name, abs)
	return nil
}

// buildFailure maps a failed build to its exit. A step's failure was
// shown as it happened and is summed up here; anything else the isolated
// stage has said itself, unless a signal killed it.
func (a *app) buildFailure(ctx context.Context, err error, rep *reporter) error {
	var request *build.RequestError
	var settings *deliver.SettingsError
	if errors.As(err, &request) || errors.As(err, &settings) {
		return usageError{err}
	}
	var isolated *build.StageExitError
	if !errors.As(err, &isolated) {
		return err
	}
	if _, f := rep.failed(); f != nil && ctx.Err() == nil {
		rep.summarize()
		return &exitError{code: exitFailure, silent: true, err: err}
	}
	return &exitError{code: exitFailure, silent: isolated.Reported(), err: err}
}

// newStageCommand is the isolated child of 'builder rootfs' and 'builder
// build': it reads its request on stdin and answers with events.
func (a *app) newStageCommand() *cobra.Command {
	return &cobra.Command{
		Use:    build.StageCommand,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// stdout carries the event stream: values are masked inside
			// its string literals only.
			if w, ok := a.stdout.(*events.Writer); ok {
				w.SetJSON()
			}
			err := build.RunStage(cmd.Context(), a.stdin, a.stdout, a.mask)
			var reported *build.ReportedError
			if errors.As(err, &reported) {
				// The step_end event carries the failure; builder reports it.
				return &exitError{code: exitFailure, silent: true, err: err}
			}
			return err
		},
	}
}
