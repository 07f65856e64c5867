package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/builder-images/builder/builder/build"
	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/deliver"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/imagetest"
	"github.com/builder-images/builder/builder/pack"
	"github.com/builder-images/builder/builder/recipe"
)

type buildOptions struct {
	recipeOptions
	outputOptions
	selectOptions
	deliveryOptions
	cache       cache.Policy
	keepOnError bool
	workDir     string
	// importAlias is --import's value: importDefault for a bare --import.
	importAlias string
	asJSON      bool
	quiet       bool
	onError     string
	timeout     time.Duration
	job         string
	// test runs `builder test` on each output once built (--test), with
	// the test- flags and the delivery flags that say where.
	test     bool
	testOpts testOptions
	// locked is --locked: install exactly the lock file's versions.
	locked   bool
	lockFile string
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
and image.json land in --output (default out/IMAGE-NAME).

A recipe with several output blocks builds each of them (or those --only
names): one rootfs per instance type (build.type: container, vm), every
output of that type packed from it, each into --output/NAME. The steps
the types share run once.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runBuild(cmd.Context(), opts, args[0])
		},
	}
	opts.recipeOptions.AddFlags(cmd.Flags())
	opts.outputOptions.AddFlags(cmd.Flags())
	opts.selectOptions.AddFlags(cmd.Flags(), "build only the outputs named: --only vm, --only lxd,vm (repeatable; default: every output block)")
	cmd.Flags().BoolVar(&opts.keepOnError, "keep-on-error", false, "keep the rootfs when the build fails, for inspection")
	cmd.Flags().StringVar(&opts.workDir, "work-dir", "", "where the rootfs is built (default: beside the output directory)")
	cmd.Flags().StringVar(&opts.importAlias, "import", "", "import the image into LXD/Incus when built; --import=ALIAS names it (see 'builder import' for the delivery flags)")
	cmd.Flags().Lookup("import").NoOptDefVal = importDefault
	opts.deliveryOptions.AddFlags(cmd.Flags())
	addCacheFlags(cmd.Flags(), &opts.cache, a.environ)
	cmd.Flags().StringVar(&opts.job, "job", "", "build one job of the recipe's matrix (see 'builder matrix')")
	cmd.Flags().StringVar(&opts.onError, "on-error", "cleanup", "when the build fails: cleanup (remove the work directory) or abort (stop and keep it, as --keep-on-error)")
	cmd.Flags().DurationVar(&opts.timeout, "timeout", 0, "stop the build (exit 1) when it takes longer, e.g. 45m; 0 means no limit")
	cmd.Flags().BoolVar(&opts.test, "test", false, "boot each output when built and check it, as 'builder test' does (on the daemon the delivery flags name; see also the --test- flags); with --import, only the outputs that passed are imported")
	opts.testOpts.addFlags(cmd.Flags(), "test-")
	cmd.Flags().BoolVar(&opts.locked, "locked", false, "install exactly the versions of the lock file (see 'builder lock'); fail before building when the archive lacks one, and after when the image differs")
	addLockFileFlag(cmd.Flags(), &opts.lockFile)
	cmd.Flags().BoolVarP(&opts.quiet, "quiet", "q", false, "print only errors and the final summary")
	cmd.Flags().BoolVar(&opts.asJSON, "json", false, "print the build as NDJSON events on stdout (docs/events.md); the log goes to stderr")
	a.addRecipeCompletion(cmd)
	return cmd
}

func (a *app) runBuild(ctx context.Context, opts *buildOptions, recipePath string) (err error) {
	// Packing's peak memory must not grow with the rootfs (see pack.GCPercent).
	defer pack.TuneGC(a.environ)()
	rep := a.newReporter(reportMode{json: opts.asJSON, quiet: opts.quiet})
	start := time.Now()
	end := events.Event{Type: events.BuildEnd}
	var res build.Result
	defer func() {
		end.Time, end.Duration, end.Status = time.Now(), time.Since(start).Seconds(), events.StatusOK
		end.Stages = map[string]float64{}
		for _, s := range res.Stages {
			end.Stages[s.Name] = s.Seconds
		}
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
	if opts.test {
		if err := opts.testOptions().check(); err != nil {
			return err
		}
	}
	pl, err := a.newPlanLoader(&opts.recipeOptions, recipePath, opts.job)
	if err != nil {
		return err
	}
	sel, err := pl.selectOutputs(opts.only, &opts.outputOptions, false)
	if err != nil {
		return err
	}
	if opts.importAlias == "" && !opts.test && opts.delivering() {
		return usageError{errors.New("the delivery flags (--alias, --remote, …) need --import or --test")}
	}

	popts, err := opts.packOptions(a, sel.first, "")
	if err != nil {
		return err
	}
	if err := a.resolveBases(ctx, sel, opts.locked, rep.logOut); err != nil {
		return err
	}
	bl, err := a.readBuildLock(ctx, opts.locked, opts.lockFile, recipePath, sel, rep.logOut)
	if err != nil {
		return err
	}
	root := sel.root(opts.output)
	req := build.Request{Plans: sel.plans, Created: popts.Created, Epoch: popts.Epoch, Threads: popts.Threads,
		WorkDir: opts.workDir, Keep: keepOnError, Cache: opts.cache, Environ: a.environ,
		Log: rep.logOut, TTY: popts.TTY && !opts.asJSON && !opts.quiet, Stderr: a.stderr}
	var refs []events.OutputRef
	taken := map[string]bool{}
	// With --test, an output is imported only once it passed its test:
	// the delivery waits for the tests instead of running in the build.
	afterTest := map[string]testedDelivery{}
	for _, out := range sel.outputs {
		t := build.Target{Output: out, Dir: build.OutputDir(root, out)}
		if opts.importAlias != "" {
			d := opts.deliveryFor(a, rep, out, sel.planOf(out).Image.Name, taken)
			if opts.test {
				afterTest[t.Dir] = testedDelivery{name: out.Name, target: d}
			} else {
				t.Deliver = d
			}
		}
		if b, ok := bl.blockOf(sel, out); ok && bl.locked && t.Deliver != nil {
			t.Deliver = lockedDelivery{inner: t.Deliver, check: func(j image.ImageJSON) error { return bl.verify(out.Name, b, j) }}
		}
		req.Outputs = append(req.Outputs, t)
		refs = append(refs, events.OutputRef{Name: out.Name, Type: out.Type, Dir: t.Dir})
	}
	if opts.asJSON {
		rep.Emit(events.Event{Time: start, Type: events.BuildStart, Recipe: recipePath, Image: sel.first.Image.Name, Output: root, Outputs: refs})
	}
	buildCtx := ctx
	if opts.timeout > 0 {
		var cancel context.CancelFunc
		buildCtx, cancel = context.WithTimeout(ctx, opts.timeout)
		defer cancel()
	}
	res, err = build.Build(buildCtx, req, rep)
	for _, o := range res.Outputs {
		end.Outputs = append(end.Outputs, events.OutputRef{Name: o.Name, Type: o.Type, Dir: o.Dir, Fingerprint: o.Image.Fingerprint})
	}
	if len(req.Outputs) == 1 && len(res.Outputs) == 1 {
		end.Fingerprint, end.Output = res.Outputs[0].Image.Fingerprint, res.Outputs[0].Dir
	}
	if err != nil {
		if errors.Is(buildCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return &exitError{code: exitFailure, err: &timeoutError{opts.timeout}}
		}
		return a.buildFailure(buildCtx, err, rep)
	}
	if err := bl.afterBuild(sel, res, a.stderr); err != nil {
		return err
	}
	rep.summary(a.stdout, res, time.Since(start))
	if !opts.test {
		return nil
	}
	var dirs []string
	for _, o := range res.Outputs {
		dirs = append(dirs, o.Dir)
	}
	results, err := a.runTests(ctx, opts.testOptions(), dirs, rep)
	switch {
	case opts.asJSON:
	case opts.quiet:
		// Quiet keeps the errors: the images that did not pass.
		writeTestSummary(a.stderr, slices.DeleteFunc(slices.Clone(results), func(r imagetest.Result) bool { return r.Status == events.StatusOK }))
	default:
		writeTestSummary(a.stdout, results)
	}
	if ctx.Err() == nil && len(afterTest) > 0 {
		if derr := deliverTested(ctx, res, results, afterTest, rep, a.stderr, opts.asJSON); derr != nil {
			return errors.Join(testOutcome(ctx, results, err), derr)
		}
	}
	if err := testOutcome(ctx, results, err); err != nil {
		var ee *exitError
		if errors.As(err, &ee) && ee.silent {
			return &exitError{code: ee.code, silent: true, err: errors.New("the images were built and failed their test")}
		}
		return err
	}
	return nil
}

// testedDelivery is where an output goes once its test passed.
type testedDelivery struct {
	name   string
	target deliver.Target
}

// deliverTested imports each output whose test passed, in build order,
// and says which were held back: an image that failed its test is not
// one to deliver.
func deliverTested(ctx context.Context, res build.Result, results []imagetest.Result, targets map[string]testedDelivery, rep *reporter, stderr io.Writer, asJSON bool) error {
	passed := map[string]bool{}
	for _, r := range results {
		passed[r.Dir] = r.Status == events.StatusOK
	}
	for _, o := range res.Outputs {
		t, ok := targets[o.Dir]
		if !ok {
			continue
		}
		if !passed[o.Dir] {
			if !asJSON {
				fmt.Fprintf(stderr, "==> %s not imported: it did not pass its test\n", o.Dir)
			}
			continue
		}
		d, err := t.target.Deliver(ctx, o.Dir, o.Image)
		if err != nil {
			return fmt.Errorf("importing output %s: %w", t.name, err)
		}
		uploaded := d.Uploaded
		rep.Emit(events.Event{Time: time.Now(), Type: events.Import, OutputName: t.name, Fingerprint: d.Fingerprint,
			Daemon: d.Where, Uploaded: &uploaded, Aliases: d.Aliases})
	}
	return nil
}

// testOptions are the options of --test: the --test- flags, and the
// delivery flags for the daemon.
func (opts *buildOptions) testOptions() *testOptions {
	t := opts.testOpts
	d := opts.deliveryOptions
	t.daemon, t.remote, t.project = d.daemon, d.remote, d.project
	t.clientCert, t.clientKey, t.serverCert = d.clientCert, d.clientKey, d.serverCert
	return &t
}

// deliveryFor is the daemon an output goes to, named by --import=ALIAS
// and --alias, else by its image name. A daemon keeps one image per
// alias, so when a build imports several outputs a name an earlier one
// took (taken) gets -NAME appended for this one: debian, debian-vm. The
// recipe's aliases are the recipe's to set apart (see build.type).
func (opts *buildOptions) deliveryFor(a *app, rep *reporter, out recipe.Output, imageName string, taken map[string]bool) *deliver.Daemon {
	d := opts.deliveryOptions.target(a, rep.logOut, rep.tty)
	names := slices.Clone(d.Aliases)
	if opts.importAlias != importDefault {
		names = append([]string{opts.importAlias}, names...)
	}
	if len(names) == 0 {
		names = []string{imageName}
	}
	for i, name := range names {
		if taken[name] {
			names[i] = name + "-" + out.Name
		}
	}
	for _, name := range names {
		taken[name] = true
	}
	d.Aliases = names
	return d
}

// timeoutError is a build stopped by --timeout.
type timeoutError struct{ limit time.Duration }

func (e *timeoutError) Error() string {
	return fmt.Sprintf("the build took longer than --timeout %s and was stopped", e.limit)
}
