package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/isolation"
)

// debootstrapBackend runs debootstrap or mmdebstrap, which take the same
// inputs. Both copy the host's resolv.conf and hostname into the target;
// finalize puts the distribution's back.
//
// Both run sandboxed in a ToolView of the host, the image at
// ToolViewImage: what the recipe chooses (suite, mirror, keyring,
// extra_args, the packages themselves) can then reach that read-only
// view and the image, nothing else. debootstrap runs in two stages, as
// for a foreign architecture: the first downloads and unpacks
// (--foreign); the second, which runs the base system's maintainer
// scripts, runs in the image's own sandbox like every run step.
type debootstrapBackend struct{ tool string }

func (d debootstrapBackend) Name() string { return d.tool }

// debootstrapAttributes are shared by debootstrap and mmdebstrap, which
// take the same inputs.
var debootstrapAttributes = []string{"suite", "variant", "mirror", "keyring", "keyring_fingerprints", "components", "include", "exclude", "extra_args"}

func (debootstrapBackend) Attributes() []string { return slices.Clone(debootstrapAttributes) }

func (d debootstrapBackend) Variants() []string {
	if d.tool == "mmdebstrap" {
		return slices.Clone(mmdebstrapVariants)
	}
	return []string{"minbase", "buildd", "fakechroot"}
}

func (d debootstrapBackend) Tools() []Tool {
	tools := []Tool{{Name: d.tool, Package: d.tool, For: fmt.Sprintf("bootstrap %q", d.tool)}}
	if d.tool == "mmdebstrap" {
		tools = append(tools, mmdebstrapArchTest)
	}
	return tools
}

// HostInputs is the keyring the block names; one downloaded is pinned by
// its fingerprints, which the block's own values hold.
func (debootstrapBackend) HostInputs(cfg *Config) []string { return localPath(cfg.Keyring) }

func (d debootstrapBackend) Bootstrap(ctx context.Context, env Env, b *Config, dir string) error {
	keyring, err := pinnedKeyring(ctx, env, b)
	if err != nil {
		return err
	}
	script, err := d.script(env, b)
	if err != nil {
		return err
	}
	argv, err := d.argv(env.Arch, b, keyring, script, isolation.ToolViewImage)
	if err != nil {
		return err
	}
	// container=lxc, as an LXD container's init has it: debootstrap then
	// checks the target without creating a device node, which the
	// sandbox forbids, and uses the /dev the sandbox made.
	c := isolation.Command{Label: d.tool, Argv: argv, Env: []string{"container=lxc"}}
	if err := runInToolView(ctx, env, c, dir, d.viewPaths(b, keyring)...); err != nil {
		return err
	}
	// A recipe that asks for --foreign itself wants the first stage only.
	if d.tool != "debootstrap" || slices.Contains(b.ExtraArgs, "--foreign") {
		return nil
	}
	return debootstrapSecondStage(ctx, env, dir)
}

// script is the script debootstrap runs the suite with: the zero value
// for its own, or for mmdebstrap, which needs none. A machine without
// debootstrap's scripts has no debootstrap either, which running it
// reports better.
func (d debootstrapBackend) script(env Env, b *Config) (SuiteScript, error) {
	dir := env.ScriptsDir
	if dir == "" {
		dir = DebootstrapScripts
	}
	if d.tool != "debootstrap" {
		return SuiteScript{}, nil
	}
	if _, err := os.Stat(dir); err != nil {
		return SuiteScript{}, nil
	}
	return FindSuiteScript(dir, env.Distribution, b.Suite)
}

// viewPaths are the host files a bootstrap block names, which its tool
// reads in its view: the keyring (builder's pinned copy when the recipe
// pins fingerprints), and a file:// mirror.
func (debootstrapBackend) viewPaths(b *Config, keyring string) []string {
	var paths []string
	if keyring != "" {
		paths = append(paths, keyring)
	}
	if u, err := url.Parse(b.Mirror); err == nil && u.Scheme == "file" && u.Path != "" {
		paths = append(paths, u.Path)
	}
	return paths
}

func debootstrapSecondStage(ctx context.Context, env Env, dir string) (err error) {
	chroot, err := isolation.SetupChroot(dir, env.Tmpfs)
	if err != nil {
		return fmt.Errorf("preparing the second stage: %w", err)
	}
	defer func() {
		if tdErr := chroot.Teardown(); tdErr != nil {
			err = errors.Join(err, fmt.Errorf("after the second stage: %w", tdErr))
		}
	}()
	// container=lxc, as for the first stage.
	return env.Runner.Run(ctx, isolation.Command{Label: "debootstrap", Name: "debootstrap --second-stage",
		Argv: []string{"/debootstrap/debootstrap", "--second-stage"}, Env: []string{"container=lxc"}, Chroot: chroot})
}

// runInToolView runs a build-side program that runs the image's code in
// a ToolView of the host (see there) on image, with the host's tools and
// the given paths, from a directory of the work directory that it
// removes afterwards.
func runInToolView(ctx context.Context, env Env, c isolation.Command, image string, paths ...string) (err error) {
	abs, err := filepath.Abs(image)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", image, err)
	}
	viewDir, err := os.MkdirTemp(env.WorkDir, ".builder-tool-")
	if err != nil {
		return fmt.Errorf("preparing the sandbox of %s: %w", c.Label, err)
	}
	defer func() {
		// Empty, and mounted only in the sandbox's own namespace.
		if rmErr := os.Remove(viewDir); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("after %s: %w", c.Label, rmErr))
		}
	}()
	c.Tool = &isolation.ToolView{Dir: viewDir, Image: abs, ReadOnly: append(slices.Clip(isolation.ToolHostPaths), paths...), Tmpfs: env.Tmpfs.WithDefaults()}
	return env.Runner.Run(ctx, c)
}

// argv is the tool's command line; keyring replaces the recipe's (see
// pinnedKeyring), and a family script is passed after the mirror, as
// debootstrap takes it.
func (d debootstrapBackend) argv(arch image.Architecture, b *Config, keyring string, script SuiteScript, dir string) ([]string, error) {
	argv := []string{d.tool, "--arch=" + arch.Distribution}
	if d.tool == "debootstrap" && !slices.Contains(b.ExtraArgs, "--foreign") {
		argv = append(argv, "--foreign")
	}
	if d.tool == "mmdebstrap" {
		opts, err := mmdebstrapOptions(b)
		if err != nil {
			return nil, err
		}
		argv = append(argv, opts...)
	}
	if b.Variant != "" {
		argv = append(argv, "--variant="+b.Variant)
	}
	if len(b.Components) > 0 {
		argv = append(argv, "--components="+strings.Join(b.Components, ","))
	}
	if len(b.Include) > 0 {
		argv = append(argv, "--include="+strings.Join(b.Include, ","))
	}
	if len(b.Exclude) > 0 {
		argv = append(argv, "--exclude="+strings.Join(b.Exclude, ","))
	}
	if keyring != "" {
		argv = append(argv, "--keyring="+keyring)
	}
	argv = append(argv, b.ExtraArgs...)
	argv = append(argv, b.Suite, dir)
	// An empty mirror leaves the choice to the tool, whose default
	// follows the suite (Debian's or Ubuntu's archive): debootstrap
	// takes an empty one so, as it must come before the script.
	switch {
	case script.Family != "":
		argv = append(argv, b.Mirror, script.Family)
	case b.Mirror != "":
		argv = append(argv, b.Mirror)
	}
	return argv, nil
}
