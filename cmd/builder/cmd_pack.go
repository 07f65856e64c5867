package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/output"
	"github.com/builder-images/builder/builder/recipe"
)

// outputOptions are the flags of pack and build that override the
// recipe's output block.
type outputOptions struct {
	output          string
	typ             string
	compression     string
	rootfsFormat    string
	sourceDateEpoch string
	threads         int
}

func (o *outputOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.output, "output", "o", "", "output directory (default out/IMAGE-NAME)")
	fs.StringVar(&o.typ, "type", "", "image type: split or unified (default: the recipe's output block)")
	fs.StringVar(&o.compression, "compression", "", "gzip, xz, zstd or none, with an optional level such as xz-9")
	fs.StringVar(&o.rootfsFormat, "rootfs-format", "", "rootfs of a split image: squashfs or tar")
	fs.StringVar(&o.sourceDateEpoch, "source-date-epoch", "", "seconds since 1970 for creation date, serial and every file time (default: $SOURCE_DATE_EPOCH, else now)")
	fs.IntVar(&o.threads, "threads", 0, "compression threads (default: every CPU; the bytes do not depend on it)")
}

// apply overrides the plan's output block with the flags, by the rules
// the recipe language applies (recipe.Output.Merge); a broken rule is a
// usage error.
func (o *outputOptions) apply(plan *recipe.Plan) error {
	given := func(flag string) *string {
		if flag == "" {
			return nil
		}
		return &flag
	}
	out, problems := plan.Output.Merge(recipe.OutputSettings{Type: given(o.typ), Compression: given(o.compression), RootfsFormat: given(o.rootfsFormat)})
	if len(problems) == 0 {
		// The plan's steps were evaluated with build.type of its
		// output: another instance type needs the recipe's own output.
		if plan.InstanceType != "" && out.InstanceType() != plan.InstanceType {
			return usageError{fmt.Errorf("--type %s makes a %s image, and this build is for a %s: declare an output block with type = %q in the recipe instead",
				out.Type, out.InstanceType(), plan.InstanceType, out.Type)}
		}
		plan.Output = out
		return nil
	}
	switch p := problems[0]; p.Problem {
	case recipe.InvalidOutputType:
		return usageError{fmt.Errorf("--type must be split, unified or vm, not %q", p.Value)}
	case recipe.RootfsOnVM:
		return usageError{errors.New("--rootfs-format is for split and unified images: a vm image holds its rootfs in its disk")}
	case recipe.InvalidCompression:
		return usageError{fmt.Errorf("--compression: %w", p.Err)}
	case recipe.InvalidRootfsFormat:
		return usageError{fmt.Errorf("--rootfs-format must be squashfs or tar, not %q", p.Value)}
	default:
		return usageError{errors.New("a unified image holds its rootfs as tar entries; squashfs needs --type split")}
	}
}

// packOptions resolves the output directory and the clock.
func (o *outputOptions) packOptions(a *app, plan *recipe.Plan, rootfs string) (output.PackOptions, error) {
	epoch, err := image.SourceDateEpoch(a.environ, o.sourceDateEpoch)
	if err != nil {
		return output.PackOptions{}, usageError{err}
	}
	opts := output.PackOptions{Plan: plan, Rootfs: rootfs, Output: o.output, Created: time.Now().UTC().Truncate(time.Second), Threads: o.threads, Log: a.stdout}
	if _, ok := terminal(a.stdout); ok && !a.inCI() {
		opts.TTY = true
	}
	if !epoch.IsZero() {
		opts.Created, opts.Epoch = epoch.UTC(), &epoch
	}
	if opts.Output == "" {
		opts.Output = filepath.Join("out", plan.Image.Name)
	}
	if opts.Threads == 0 {
		opts.Threads = runtime.NumCPU()
	}
	return opts, nil
}

type packCmdOptions struct {
	recipeOptions
	outputOptions
	recipe string
}

func (a *app) newPackCommand() *cobra.Command {
	opts := &packCmdOptions{}
	cmd := &cobra.Command{
		Use:   "pack ROOTFS_DIR --recipe RECIPE",
		Short: "Turn a root filesystem into LXD/Incus image files",
		Long: `Pack writes a finished rootfs (from 'builder rootfs') as an image: for a
split image the metadata tarball lxd.tar.EXT and rootfs.squashfs (or
rootfs.tar.EXT), for a unified one IMAGE-NAME.tar.EXT; then SHA256SUMS and
image.json with LXD's fingerprint. Tar entries are sorted, owners numeric
and, with SOURCE_DATE_EPOCH, times clamped: the same tree gives the same
fingerprint. Reading the rootfs needs root.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPack(cmd.Context(), opts, args[0])
		},
	}
	opts.recipeOptions.AddFlags(cmd.Flags())
	opts.outputOptions.AddFlags(cmd.Flags())
	cmd.Flags().StringVar(&opts.recipe, "recipe", "", "the recipe the rootfs was built from (required)")
	_ = cmd.MarkFlagRequired("recipe")
	return cmd
}

func (a *app) runPack(ctx context.Context, opts *packCmdOptions, rootfsDir string) error {
	plan, err := a.loadForBuild(&opts.recipeOptions, opts.recipe)
	if err != nil {
		return err
	}
	if err := opts.apply(plan); err != nil {
		return err
	}
	if st, err := os.Stat(rootfsDir); err != nil || !st.IsDir() {
		return usageError{fmt.Errorf("%s is not a directory", rootfsDir)}
	}
	popts, err := opts.packOptions(a, plan, rootfsDir)
	if err != nil {
		return err
	}
	popts.Warn = func(err error) { fmt.Fprintf(a.stderr, "builder: warning: %v\n", err) }
	j, err := output.Pack(ctx, popts)
	var foreign *image.ForeignOutputError
	if errors.As(err, &foreign) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	a.printImage(popts.Output, j)
	return nil
}

// loadForBuild loads a recipe for a building command: diagnostics are
// printed, and an invalid recipe is a usage error (exit 2).
func (a *app) loadForBuild(opts *recipeOptions, path string) (*recipe.Plan, error) {
	plan, diags, loader := opts.load(a, path)
	if err := a.writeDiagnostics(diags, loader.Files()); err != nil {
		return nil, err
	}
	if diags.HasErrors() {
		return nil, &exitError{code: exitUsage, silent: true}
	}
	return plan, nil
}

func (a *app) printImage(dir string, j image.ImageJSON) {
	fmt.Fprintf(a.stdout, "image %s (%s, %s) in %s\nfingerprint %s\n", j.Properties["name"], j.Type, j.Architecture, dir, j.Fingerprint)
}
