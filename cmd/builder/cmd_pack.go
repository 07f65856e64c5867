package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/builder-images/builder/builder/build"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/output"
	"github.com/builder-images/builder/builder/pack"
	"github.com/builder-images/builder/builder/recipe"
)

// outputOptions are the flags of pack and build that override the
// recipe's output block; they apply to one output (see --only).
type outputOptions struct {
	output          string
	typ             string
	compression     string
	rootfsFormat    string
	size            string
	filesystem      string
	diskFormat      string
	secureBoot      optionalBool
	unified         optionalBool
	sourceDateEpoch string
	threads         int
}

func (o *outputOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.output, "output", "o", "", "output directory (default out/IMAGE-NAME); a named output goes to OUTPUT/NAME")
	fs.StringVar(&o.typ, "type", "", "image type: split, unified or vm (default: the recipe's output block)")
	fs.StringVar(&o.compression, "compression", "", "gzip, xz, zstd or none, with an optional level such as xz-9")
	fs.StringVar(&o.rootfsFormat, "rootfs-format", "", "rootfs of a split image: squashfs or tar")
	fs.StringVar(&o.size, "size", "", "disk size of a vm image, such as 8GiB (default 4GiB)")
	fs.StringVar(&o.filesystem, "filesystem", "", "root filesystem of a vm image: ext4")
	fs.StringVar(&o.diskFormat, "disk-format", "", "disk format of a vm image: qcow2")
	fs.Var(&o.secureBoot, "secure-boot", "install the signed shim and grub in a vm image (default true; --secure-boot=false for none)")
	fs.Lookup("secure-boot").NoOptDefVal = "true"
	fs.Var(&o.unified, "unified", "pack a vm image as one tarball, IMAGE-NAME.tar.EXT, with the disk as rootfs.img (default false: lxd.tar.EXT beside disk.qcow2)")
	fs.Lookup("unified").NoOptDefVal = "true"
	fs.StringVar(&o.sourceDateEpoch, "source-date-epoch", "", "seconds since 1970 for creation date, serial and every file time (default: $SOURCE_DATE_EPOCH, else now)")
	fs.IntVar(&o.threads, "threads", 0, "compression threads (default: every CPU; the bytes do not depend on it)")
}

// settings are the output flags given, as the recipe's output rules
// take them.
func (o *outputOptions) settings() recipe.OutputSettings {
	given := func(flag string) *string {
		if flag == "" {
			return nil
		}
		return &flag
	}
	return recipe.OutputSettings{Type: given(o.typ), Compression: given(o.compression), RootfsFormat: given(o.rootfsFormat),
		Size: given(o.size), Filesystem: given(o.filesystem), Format: given(o.diskFormat), SecureBoot: o.secureBoot.value,
		Unified: o.unified.value}
}

// given reports whether any output flag is set.
func (o *outputOptions) given() bool {
	return o.settings() != recipe.OutputSettings{}
}

// outputFlags name the output flags in messages.
const outputFlags = "--type, --compression, --rootfs-format, --size, --filesystem, --secure-boot, --disk-format and --unified"

// merge applies the flags to out by the rules the recipe language
// applies (recipe.Output.Merge); a broken rule is a usage error.
func (o *outputOptions) merge(out recipe.Output) (recipe.Output, error) {
	merged, problems := out.Merge(o.settings())
	if len(problems) == 0 {
		return merged, nil
	}
	p := problems[0]
	flag := map[string]string{"type": "--type", "compression": "--compression", "rootfs": "--rootfs-format", "size": "--size",
		"filesystem": "--filesystem", "secure_boot": "--secure-boot", "format": "--disk-format", "unified": "--unified"}[p.Setting]
	switch p.Problem {
	case recipe.InvalidOutputType:
		return out, usageError{fmt.Errorf("--type must be split, unified or vm, not %q", p.Value)}
	case recipe.RootfsOnVM:
		return out, usageError{errors.New("--rootfs-format is for split and unified images: a vm image holds its rootfs in its disk")}
	case recipe.InvalidCompression:
		return out, usageError{fmt.Errorf("--compression: %w", p.Err)}
	case recipe.InvalidRootfsFormat:
		return out, usageError{fmt.Errorf("--rootfs-format must be squashfs or tar, not %q", p.Value)}
	case recipe.VMSettingOnContainer:
		if p.Setting == "unified" {
			return out, usageError{fmt.Errorf("--unified is for vm images, and this output is %s: a container image is unified with --type unified", merged.Type)}
		}
		return out, usageError{fmt.Errorf("%s is a setting of vm images, and this output is %s; add --type vm", flag, merged.Type)}
	case recipe.InvalidVMSize, recipe.InvalidFilesystem, recipe.InvalidDiskFormat:
		return out, usageError{fmt.Errorf("%s: %w", flag, p)}
	default:
		return out, usageError{errors.New("a unified image holds its rootfs as tar entries; squashfs needs --type split")}
	}
}

// optionalBool is a boolean flag that knows whether it was given.
type optionalBool struct{ value *bool }

func (b *optionalBool) String() string {
	if b.value == nil {
		return ""
	}
	return strconv.FormatBool(*b.value)
}

func (b *optionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	b.value = &v
	return nil
}

func (b *optionalBool) Type() string     { return "bool" }
func (b *optionalBool) IsBoolFlag() bool { return true }

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
	selectOptions
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
image.json with LXD's fingerprint; for a vm image lxd.tar.EXT and the disk
disk.qcow2 (with --unified, IMAGE-NAME.tar.EXT holding the disk as
rootfs.img). Tar entries are sorted, owners numeric and, with
SOURCE_DATE_EPOCH, times clamped: the same tree gives the same
fingerprint. Reading the rootfs needs root.

Pack makes one image: of a recipe with several output blocks, the one
--only names, into --output/NAME.

A rootfs built on an existing image (bootstrap "image" or "oci") is
packed on the base 'builder rootfs' recorded beside it
(ROOTFS_DIR.builder-base.json), not on what the alias or tag names now.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPack(cmd.Context(), opts, args[0])
		},
	}
	opts.recipeOptions.AddFlags(cmd.Flags())
	opts.outputOptions.AddFlags(cmd.Flags())
	opts.selectOptions.AddFlags(cmd.Flags(), "the output to pack, of a recipe with several output blocks")
	cmd.Flags().StringVar(&opts.recipe, "recipe", "", "the recipe the rootfs was built from (required)")
	_ = cmd.MarkFlagRequired("recipe")
	return cmd
}

func (a *app) runPack(ctx context.Context, opts *packCmdOptions, rootfsDir string) error {
	pl, err := a.newPlanLoader(&opts.recipeOptions, opts.recipe, "")
	if err != nil {
		return err
	}
	sel, err := pl.selectOutputs(opts.only, &opts.outputOptions, true)
	if err != nil {
		return err
	}
	if len(sel.outputs) != 1 {
		return usageError{fmt.Errorf("pack makes one image, and %s has %d outputs (%s): choose one with --only NAME",
			opts.recipe, len(sel.outputs), outputNames(sel.outputs))}
	}
	if st, err := os.Stat(rootfsDir); err != nil || !st.IsDir() {
		return usageError{fmt.Errorf("%s is not a directory", rootfsDir)}
	}
	// The base's templates and properties go into the image, and
	// image.json records the base: the one builder rootfs recorded it
	// built this rootfs on, else the one the alias names now.
	if err := build.UseBaseRecord(rootfsDir, append([]*recipe.Plan{sel.first}, sel.plans...), a.stderr); err != nil {
		return usageError{err}
	}
	if err := a.resolveBases(ctx, sel, false, a.stderr); err != nil {
		return err
	}
	popts, err := opts.packOptions(a, sel.plans[0], rootfsDir)
	if err != nil {
		return err
	}
	popts.Output = build.OutputDir(sel.root(opts.output), sel.outputs[0])
	popts.Warn = func(err error) { fmt.Fprintf(a.stderr, "builder: warning: %v\n", err) }
	// Packing's peak memory must not grow with the rootfs (see pack.GCPercent).
	defer pack.TuneGC(a.environ)()
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
