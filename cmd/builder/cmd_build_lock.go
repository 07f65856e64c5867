package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/builder-images/builder/builder/build"
	"github.com/builder-images/builder/builder/deliver"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/lock"
	"github.com/builder-images/builder/builder/recipe"
)

// buildLock is the lock file a build reads: with --locked, the blocks it
// must match; without, the one it reports drift from, if any.
type buildLock struct {
	path   string
	file   *lock.File
	locked bool
}

// readBuildLock reads the build's lock file. With --locked, everything
// the lock promises is checked before anything is built: a block for
// each instance type, the inputs' digests, and the archive's having
// every locked version; the plans are then pinned to them. Without, a
// missing lock is no lock, and one that does not parse is a warning.
func (a *app) readBuildLock(ctx context.Context, locked bool, flag, recipePath string, sel selection, log io.Writer) (*buildLock, error) {
	path := lockPath(flag, recipePath)
	file, err := lock.Read(path)
	switch {
	case !locked && errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case !locked && err != nil:
		fmt.Fprintf(a.stderr, "builder: warning: not comparing with the lock file: %v\n", err)
		return nil, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("--locked: there is no lock file %s: run 'builder lock %s' first", path, recipePath)
	case err != nil:
		return nil, fmt.Errorf("--locked: %w", err)
	}
	bl := &buildLock{path: path, file: file, locked: locked}
	if !locked {
		return bl, nil
	}
	blocks := map[*recipe.Plan]*lock.Block{}
	var errs []error
	for _, plan := range sel.plans {
		b, ok := file.Find(lock.KeyOf(plan))
		if !ok {
			errs = append(errs, fmt.Errorf("%s has no build block for %s: run 'builder lock' for it", path, lock.KeyOf(plan)))
			continue
		}
		err := lock.CheckLocksSomething(plan, b)
		if err == nil {
			var inputs []lock.Input
			if inputs, err = lock.Inputs(plan); err == nil {
				err = lock.CheckInputs(b.Inputs, inputs)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s, %s: %w", path, b.Key, err))
		}
		blocks[plan] = b
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("--locked: %w", err)
	}
	if err := checkArchive(ctx, sel.plans, blocks, log); err != nil {
		return nil, fmt.Errorf("--locked: %w", err)
	}
	for plan, b := range blocks {
		lock.Pin(plan, b)
	}
	return bl, nil
}

// checkArchive fetches each distinct archive's indices once (a recipe's
// instance types mostly share theirs) and lists the locked versions
// they lack.
func checkArchive(ctx context.Context, plans []*recipe.Plan, blocks map[*recipe.Plan]*lock.Block, log io.Writer) error {
	work, err := os.MkdirTemp("", "builder-locked-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	fetched := map[string]map[string]bool{}
	var errs []error
	for _, plan := range plans {
		b := blocks[plan]
		sources, err := lock.SourcesOf(ctx, plan, b, work)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var lines []string
		for _, s := range sources {
			lines = append(lines, s.Line())
		}
		archs := b.Architectures()
		id := strings.Join(archs, ",") + "\n" + strings.Join(lines, "\n")
		avail, ok := fetched[id]
		if len(sources) == 0 {
			// No Debian archive (busybox, a tarball, a directory): a
			// locked package cannot be checked, nor installed again.
			if len(b.Packages) > 0 {
				errs = append(errs, fmt.Errorf("%w\n(the build has no Debian archive builder knows of, from a debootstrap or mmdebstrap bootstrap or a repository block, to install them from)",
					&lock.MissingError{Key: b.Key, Missing: b.Packages}))
			}
			continue
		}
		if !ok {
			fmt.Fprintf(log, "==> checking the archive for the %d locked versions of %s\n", len(b.Packages), b.Key)
			if avail, err = lock.Available(ctx, sources, archs, work); err != nil {
				return err
			}
			fetched[id] = avail
		}
		if missing := lock.Missing(avail, b.Packages); len(missing) > 0 {
			errs = append(errs, &lock.MissingError{Key: b.Key, Missing: missing})
		}
	}
	return errors.Join(errs...)
}

// blockOf is the lock's block for the plan an output is built with.
func (bl *buildLock) blockOf(sel selection, out recipe.Output) (*lock.Block, bool) {
	if bl == nil {
		return nil, false
	}
	return bl.file.Find(lock.KeyOf(sel.planOf(out)))
}

// lockedDelivery delivers an image of a --locked build only when its
// packages are the lock's.
type lockedDelivery struct {
	inner deliver.Target
	check func(j image.ImageJSON) error
}

func (d lockedDelivery) Deliver(ctx context.Context, dir string, j image.ImageJSON) (deliver.Result, error) {
	if err := d.check(j); err != nil {
		return deliver.Result{}, err
	}
	return d.inner.Deliver(ctx, dir, j)
}

// verify compares an output's packages with its block: with --locked a
// difference fails the build; without, it is drift, printed as a
// warning.
func (bl *buildLock) verify(name string, b *lock.Block, j image.ImageJSON) error {
	d := lock.Compare(b.Packages, lock.FromImage(j.Packages))
	if d.Empty() {
		return nil
	}
	return fmt.Errorf("the packages of output %s differ from %s (%s):\n  %s", name, bl.path, b.Key, strings.Join(d.Lines(), "\n  "))
}

// afterBuild checks each built output against the lock: the verdict of
// --locked, or the drift warning of a build without it.
func (bl *buildLock) afterBuild(sel selection, res build.Result, stderr io.Writer) error {
	if bl == nil {
		return nil
	}
	var errs []error
	for _, o := range res.Outputs {
		// By name, not by index: Result lists only the outputs packed.
		i := slices.IndexFunc(sel.outputs, func(out recipe.Output) bool { return out.Name == o.Name })
		if i < 0 {
			if bl.locked {
				errs = append(errs, fmt.Errorf("output %q is not one the build selected: not compared with %s", o.Name, bl.path))
			}
			continue
		}
		b, ok := bl.blockOf(sel, sel.outputs[i])
		if !ok {
			if bl.locked {
				errs = append(errs, fmt.Errorf("%s has no build block for output %s", bl.path, o.Name))
			}
			continue
		}
		err := bl.verify(sel.outputs[i].Name, b, o.Image)
		switch {
		case err == nil:
		case bl.locked:
			// The pins are not in the cache's keys: a stage restored
			// from the cache keeps the versions it was built with.
			errs = append(errs, fmt.Errorf("%w\n(a stage restored from the stage cache keeps the versions it was made with: build with --no-cache to install the locked ones)", err))
		default:
			fmt.Fprintf(stderr, "builder: warning: %v\n(run 'builder lock' to accept them, or build --locked to install the locked versions)\n", err)
		}
	}
	return errors.Join(errs...)
}
