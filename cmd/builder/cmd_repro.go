package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/builder-images/builder/builder/build"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/treediff"
)

type reproOptions struct {
	recipeOptions
	selectOptions
	output          string
	sourceDateEpoch string
	job             string
	keep            bool
	quiet           bool
	asJSON          bool
	maxPaths        int
}

func (a *app) newReproCommand() *cobra.Command {
	opts := &reproOptions{}
	cmd := &cobra.Command{
		Use:   "repro RECIPE",
		Short: "Build a recipe twice from scratch and check both builds give the same images (as root)",
		Long: `Repro runs 'builder build' twice, each without a cache, in its own work
directory, with its own number of threads (1, then at least 4, for the
compressors and GOMAXPROCS), and one SOURCE_DATE_EPOCH for both: the one
given, else the time repro starts. It then compares every output's
fingerprint and its SBOM (sbom.spdx.json). Where fingerprints differ, it names each differing file of the image
and, inside it, every path whose content, mode, owner, mtime, xattrs, link
or type differs, like diffoscope's summary.

Exit status 0: every output is reproducible; 1: one is not, or a build
failed. The builds go to --output/build-1 and build-2, removed at the end
unless --keep.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runRepro(cmd.Context(), opts, args[0])
		},
	}
	opts.recipeOptions.AddFlags(cmd.Flags())
	opts.selectOptions.AddFlags(cmd.Flags(), "check only the outputs named: --only vm, --only lxd,vm (repeatable; default: every output block)")
	cmd.Flags().StringVar(&opts.job, "job", "", "check one job of the recipe's matrix (see 'builder matrix')")
	cmd.Flags().StringVarP(&opts.output, "output", "o", "", "where the two builds go, as build-1 and build-2 (default out/IMAGE-NAME-repro); must not exist or be empty")
	cmd.Flags().StringVar(&opts.sourceDateEpoch, "source-date-epoch", "", "seconds since 1970 for both builds (default: $SOURCE_DATE_EPOCH, else the time repro starts)")
	cmd.Flags().BoolVar(&opts.keep, "keep", false, "keep both builds' outputs, for inspection")
	cmd.Flags().BoolVarP(&opts.quiet, "quiet", "q", false, "run the builds with --quiet: print only errors, the summaries and the comparison")
	cmd.Flags().BoolVar(&opts.asJSON, "json", false, "print the comparison as one JSON object on stdout; the builds' output goes to stderr")
	cmd.Flags().IntVar(&opts.maxPaths, "max-paths", 100, "print at most this many differing paths per file (0: all; --json has them all)")
	a.addRecipeCompletion(cmd)
	return cmd
}

// reproBuild is one of repro's two builds.
type reproBuild struct {
	Dir     string `json:"dir"`
	WorkDir string `json:"work_dir"`
	Threads int    `json:"threads"`
}

// reproOutput is one output compared.
type reproOutput struct {
	Name         string               `json:"name,omitempty"`
	Reproducible bool                 `json:"reproducible"`
	Report       treediff.ImageReport `json:"report"`
}

// reproResult is what --json prints.
type reproResult struct {
	Recipe          string        `json:"recipe"`
	SourceDateEpoch int64         `json:"source_date_epoch"`
	Reproducible    bool          `json:"reproducible"`
	Builds          []reproBuild  `json:"builds"`
	Outputs         []reproOutput `json:"outputs"`
	Kept            bool          `json:"kept"`
}

func (a *app) runRepro(ctx context.Context, opts *reproOptions, recipePath string) (err error) {
	if opts.maxPaths < 0 {
		return usageError{errors.New("--max-paths must not be negative")}
	}
	pl, err := a.newPlanLoader(&opts.recipeOptions, recipePath, opts.job)
	if err != nil {
		return err
	}
	sel, err := pl.selectOutputs(opts.only, nil, false)
	if err != nil {
		return err
	}
	epoch, err := image.SourceDateEpoch(a.environ, opts.sourceDateEpoch)
	if err != nil {
		return usageError{err}
	}
	if epoch.IsZero() {
		epoch = time.Now().UTC().Truncate(time.Second)
	}
	root := opts.output
	if root == "" {
		root = filepath.Join("out", sel.first.Image.Name+"-repro")
	}
	if err := checkReproDir(root); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding builder's own binary: %w", err)
	}
	root, builds := newReproBuilds(root)
	res := reproResult{Recipe: recipePath, SourceDateEpoch: epoch.Unix(), Builds: builds, Kept: opts.keep}
	defer func() {
		if !opts.keep {
			err = errors.Join(err, removeReproDir(root, builds))
		}
	}()
	log := a.stdout
	if opts.asJSON {
		log = a.stderr
	}
	for i, b := range builds {
		fmt.Fprintf(log, "==> repro: build %d of 2 into %s (threads and GOMAXPROCS %d, work directory %s, SOURCE_DATE_EPOCH %d)\n",
			i+1, b.Dir, b.Threads, b.WorkDir, epoch.Unix())
		if err := a.runReproBuild(ctx, exe, opts, recipePath, b, epoch, log); err != nil {
			return fmt.Errorf("build %d of 2: %w", i+1, err)
		}
	}
	res.Reproducible = true
	for _, out := range sel.outputs {
		r, err := treediff.CompareImages(ctx, build.OutputDir(builds[0].Dir, out), build.OutputDir(builds[1].Dir, out))
		if err != nil {
			return fmt.Errorf("comparing the builds of output %s: %w", outputLabel(out.Name), err)
		}
		res.Outputs = append(res.Outputs, reproOutput{Name: out.Name, Reproducible: r.Same(), Report: r})
		res.Reproducible = res.Reproducible && r.Same()
	}
	if opts.asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else if err := writeReproReport(a.stdout, res, opts.maxPaths); err != nil {
		return err
	}
	if !res.Reproducible {
		hint := " (--keep keeps both builds)"
		if opts.keep {
			hint = " (both builds kept in " + root + ")"
		}
		return &exitError{code: exitFailure, err: fmt.Errorf("%s is not reproducible%s", recipePath, hint)}
	}
	return nil
}

// newReproBuilds lays the two builds out below root, which it returns
// cleaned: removeReproDir climbs from each work directory up to root by
// string, so "./out" or "out//x" must be spelled as filepath.Join
// spells the paths below it.
func newReproBuilds(root string) (string, []reproBuild) {
	root = filepath.Clean(root)
	// Two thread counts that differ on any machine: the compressors'
	// and mksquashfs's bytes must not depend on them. The work
	// directories differ in depth too, so that a build path leaking
	// into the image shows.
	return root, []reproBuild{
		{Dir: filepath.Join(root, "build-1"), WorkDir: filepath.Join(root, "work-1"), Threads: 1},
		{Dir: filepath.Join(root, "build-2"), WorkDir: filepath.Join(root, "work-2", "deeper"), Threads: max(4, runtime.NumCPU())},
	}
}

// runReproBuild runs one `builder build` as its own process: a build from
// scratch, with nothing of the other's (memory, caches, GOMAXPROCS).
func (a *app) runReproBuild(ctx context.Context, exe string, opts *reproOptions, recipePath string, b reproBuild, epoch time.Time, log io.Writer) error {
	sde := strconv.FormatInt(epoch.Unix(), 10)
	threads := strconv.Itoa(b.Threads)
	args := []string{"build", recipePath, "--cache-dir=", "--output", b.Dir, "--work-dir", b.WorkDir,
		"--threads", threads, "--source-date-epoch", sde}
	for _, v := range opts.vars {
		args = append(args, "--var", v)
	}
	for _, f := range opts.varFiles {
		args = append(args, "--var-file", f)
	}
	for _, o := range opts.only {
		args = append(args, "--only", o)
	}
	if opts.job != "" {
		args = append(args, "--job", opts.job)
	}
	if opts.quiet || opts.asJSON {
		args = append(args, "--quiet")
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	// The epoch in the environment too: the build passes it on to the
	// recipe's commands, which may read it.
	cmd.Env = append(withoutEnv(a.environ, "GOMAXPROCS", image.SourceDateEpochVar, "BUILDER_CACHE_DIR"),
		"GOMAXPROCS="+threads, image.SourceDateEpochVar+"="+sde)
	cmd.Stdout, cmd.Stderr = log, a.stderr
	// Interrupted, the build stops as on Ctrl-C: it cleans its work
	// directory up.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	// Killed (kill -9, where Cancel never runs), repro takes its build
	// along: SIGTERM, on which the build cleans up as on Ctrl-C, rather
	// than leave it building into a directory nobody will look at. The
	// signal comes when the thread that started the build ends, so this
	// goroutine keeps its thread until the build is gone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ctx.Err() == nil {
			return fmt.Errorf("builder build failed (exit %d); its messages are above", ee.ExitCode())
		}
		return err
	}
	return nil
}

// withoutEnv is environ without the variables named.
func withoutEnv(environ []string, names ...string) []string {
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, name) {
			out = append(out, kv)
		}
	}
	return out
}

// checkReproDir refuses an --output that holds anything: repro removes
// what it made there, and must never remove what it did not.
func checkReproDir(root string) error {
	entries, err := os.ReadDir(root)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("checking %s: %w", root, err)
	case len(entries) > 0:
		return usageError{fmt.Errorf("%s is not empty (a kept repro?): remove it, or choose another --output", root)}
	}
	return nil
}

// removeReproDir removes the builds' outputs, then the directories repro
// made if they are empty: a build that failed and was killed may leave
// its work directory, which the next build there sweeps (it may hold
// the image's setuid files, so it is not removed blindly here).
func removeReproDir(root string, builds []reproBuild) error {
	var errs []error
	for _, b := range builds {
		if err := os.RemoveAll(b.Dir); err != nil {
			errs = append(errs, err)
		}
		for dir := b.WorkDir; dir != root && strings.HasPrefix(dir, root); dir = filepath.Dir(dir) {
			os.Remove(dir) // only if empty
		}
	}
	os.Remove(root) // only if empty
	return errors.Join(errs...)
}

// outputLabel names an output in messages.
func outputLabel(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	return name
}

// writeReproReport prints the comparison: one line per output, then
// what differs in each that is not reproducible.
func writeReproReport(w io.Writer, res reproResult, maxPaths int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "==> repro: comparing the two builds of %s (SOURCE_DATE_EPOCH %d)\n", res.Recipe, res.SourceDateEpoch)
	for _, o := range res.Outputs {
		if o.Reproducible {
			fmt.Fprintf(&b, "output %s: reproducible, fingerprint %s\n", outputLabel(o.Name), o.Report.FingerprintA)
			continue
		}
		fmt.Fprintf(&b, "output %s: NOT reproducible\n", outputLabel(o.Name))
		var r strings.Builder
		if err := o.Report.Write(&r, maxPaths); err != nil {
			return err
		}
		for _, line := range strings.SplitAfter(strings.TrimSuffix(r.String(), "\n"), "\n") {
			b.WriteString("  " + strings.TrimSuffix(line, "\n") + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
