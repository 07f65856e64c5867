package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/lock"
)

type lockOptions struct {
	recipeOptions
	selectOptions
	cache    cache.Policy
	lockFile string
}

// addLockFileFlag is --lock, which lock and build share.
func addLockFileFlag(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "lock", "", "the lock file (default: RECIPE.lock.hcl beside the recipe, recipes/debian.hcl → recipes/debian.lock.hcl)")
}

// lockPath is --lock, else the recipe's lock file.
func lockPath(flag, recipePath string) string {
	if flag != "" {
		return flag
	}
	return lock.PathFor(recipePath)
}

func (a *app) newLockCommand() *cobra.Command {
	opts := &lockOptions{}
	cmd := &cobra.Command{
		Use:   "lock RECIPE",
		Short: "Record the exact package versions and input digests of a recipe's build (as root)",
		Long: `Lock runs the recipe's rootfs stage (restored from the stage cache when a
build of the same recipe stored it, so locking after a build takes seconds)
and writes RECIPE.lock.hcl beside the recipe: for the image's
architecture, variant and each instance type --only selects (default:
every output's), every installed package with its version and
architecture, and the digest of every host file the build reads
(keyrings, tarballs, copied files, repository keys). Blocks for other
architectures, variants or instance types stay as they were.

'builder build --locked' then installs exactly those versions, and fails
before building when the archive no longer has one; a build without
--locked says which packages drifted from the lock.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runLock(cmd.Context(), opts, args[0])
		},
	}
	opts.recipeOptions.AddFlags(cmd.Flags())
	opts.selectOptions.AddFlags(cmd.Flags(), "lock only the instance types of the outputs named (default: every output's)")
	addLockFileFlag(cmd.Flags(), &opts.lockFile)
	addCacheFlags(cmd.Flags(), &opts.cache, a.environ)
	a.addRecipeCompletion(cmd)
	return cmd
}

func (a *app) runLock(ctx context.Context, opts *lockOptions, recipePath string) error {
	pl, err := a.newPlanLoader(&opts.recipeOptions, recipePath, "")
	if err != nil {
		return err
	}
	sel, err := pl.selectOutputs(opts.only, nil, false)
	if err != nil {
		return err
	}
	path := lockPath(opts.lockFile, recipePath)
	file, err := lock.Read(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		file = &lock.File{}
	case err != nil:
		return err
	}
	rep := a.newReporter(reportMode{})
	defer rep.close()
	if err := a.resolveBases(ctx, sel, false, rep.logOut); err != nil {
		return err
	}
	for _, plan := range sel.plans {
		b, err := lock.Make(ctx, lock.MakeRequest{Plan: plan, WorkDir: filepath.Dir(path), Cache: opts.cache,
			Environ: a.environ, Log: rep.logOut, Stderr: a.stderr}, rep)
		if err != nil {
			return a.buildFailure(ctx, err, rep)
		}
		file.Put(b)
		fmt.Fprintf(a.stdout, "locked %s: %d packages, %d inputs\n", b.Key, len(b.Packages), len(b.Inputs))
	}
	if err := lock.Write(path, file); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "wrote %s\n", path)
	return nil
}
