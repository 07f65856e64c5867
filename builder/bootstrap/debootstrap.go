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

	"github.com/builder-images/builder/builder/doctor/check"
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
var debootstrapAttributes = []string{"suite", "variant", "mirror", "snapshot", "keyring", "keyring_fingerprints", "components", "include", "exclude", "extra_args"}

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
	pins, err := d.pinsFile(env, b)
	if err != nil {
		return err
	}
	argv, err := d.argv(env.Arch, b, keyring, script, isolation.ToolViewImage)
	if err != nil {
		return err
	}
	paths := d.viewPaths(b, keyring)
	if pins != "" {
		argv = withPinHooks(argv, pins)
		paths = append(paths, pins)
	}
	// container=lxc, as an LXD container's init has it: debootstrap then
	// checks the target without creating a device node, which the
	// sandbox forbids, and uses the /dev the sandbox made.
	c := isolation.Command{Label: d.tool, Argv: argv, Env: []string{"container=lxc"}}
	if err := runInToolView(ctx, env, c, dir, paths...); err != nil {
		return err
	}
	// A recipe that asks for --foreign itself wants the first stage only.
	if d.tool == "debootstrap" && !slices.Contains(b.ExtraArgs, "--foreign") {
		if err := debootstrapSecondStage(ctx, env, dir); err != nil {
			return err
		}
	}
	return writeSnapshotSources(dir, b)
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
	if u, err := url.Parse(b.ArchiveMirror()); err == nil && u.Scheme == "file" && u.Path != "" {
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
	mirror := b.ArchiveMirror()
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
		argv = append(argv, mirror, script.Family)
	case mirror != "":
		argv = append(argv, mirror)
	}
	return argv, nil
}

var _ HostChecker = debootstrapBackend{}

// HostChecks are what builder doctor checks for a block of debootstrap
// or mmdebstrap besides the tool: debootstrap's script for the suite,
// and the keyring either checks the archive with.
func (d debootstrapBackend) HostChecks(host HostEnv, cfg *Config) []check.Result {
	if d.tool == "debootstrap" {
		return []check.Result{d.checkScript(host, cfg), d.checkKeyring(host, cfg)}
	}
	return []check.Result{d.checkKeyring(host, cfg)}
}

// checkScript says how debootstrap will run the block's suite: with its
// own script, with its family's (a suite newer than this debootstrap),
// or not at all.
func (debootstrapBackend) checkScript(host HostEnv, b *Config) check.Result {
	r := check.Result{Name: "script"}
	s, err := FindSuiteScript(host.ScriptsDir, host.Distribution, b.Suite)
	var none *NoSuiteScriptError
	switch {
	case errors.As(err, &none):
		r.Status, r.Detail = check.Fail, err.Error()
		r.Fix = `use bootstrap "mmdebstrap", which needs no script, or a debootstrap that knows the suite`
	case err != nil:
		r.Status, r.Detail, r.Fix = check.Fail, err.Error(), "apt-get install debootstrap"
	case s.Family != "":
		r.Detail = fmt.Sprintf("this debootstrap has no script for %s; builder runs it with %s, as debootstrap does every %s suite since %s",
			b.Suite, s.Path, host.Distribution, s.Family)
	default:
		r.Detail = s.Path
	}
	return r
}

// checkKeyring checks the keyring the tool will check the archive with:
// the block's file, its URL (fetched at build time), or the tool's
// default for the suite.
func (d debootstrapBackend) checkKeyring(host HostEnv, b *Config) check.Result {
	r := check.Result{Name: "keyring"}
	pinned := ""
	switch k := len(b.KeyringFingerprints); k {
	case 0:
	case 1:
		pinned = ", pinned to 1 key"
	default:
		pinned = fmt.Sprintf(", pinned to %d keys", k)
	}
	path, whose := b.Keyring, "the recipe's keyring"
	switch {
	case strings.HasPrefix(b.Keyring, "https://"):
		r.Detail = "fetched from " + b.Keyring + " at build time" + pinned
		return r
	case path == "" && d.tool == "debootstrap":
		s, err := FindSuiteScript(host.ScriptsDir, host.Distribution, b.Suite)
		if err != nil {
			r.Status, r.Detail, r.Fix = check.Fail, "without a script, no default keyring: "+err.Error(), "see the script check"
			return r
		}
		if path, err = s.DefaultKeyring(); err != nil {
			r.Status, r.Detail, r.Fix = check.Fail, err.Error(), "apt-get install --reinstall debootstrap"
			return r
		}
		whose = "debootstrap's default keyring for " + b.Suite
	case path == "":
		path, whose = VendorKeyring(host.Distribution), "mmdebstrap's default keyring for "+host.Distribution
	}
	if path == "" {
		r.Status = check.Warn
		r.Detail = "the recipe names no keyring and builder does not know which one " + d.tool + " uses for " + b.Suite
		r.Fix = "set keyring (a file, or an https URL with keyring_fingerprints)"
		return r
	}
	if _, err := host.Stat(path); err == nil {
		r.Detail = path + pinned
		if b.Keyring == "" {
			r.Detail += " (" + whose + ")"
		}
		return r
	}
	r.Status = check.Fail
	r.Detail = fmt.Sprintf("%s, %s, does not exist", whose, path)
	switch {
	case b.Keyring == "" && d.tool == "debootstrap":
		r.Detail += ": debootstrap would bootstrap without checking the archive's signatures"
	case b.Keyring == "":
		r.Detail += ": apt would refuse the archive"
	}
	r.Fix = keyringFix(host.Distribution, path)
	return r
}

// keyringFix says where a missing archive keyring comes from.
func keyringFix(distribution, path string) string {
	const pin = "point the recipe's keyring at an https URL of it with keyring_fingerprints"
	switch {
	case strings.EqualFold(distribution, "debian"):
		return "apt-get install debian-archive-keyring, or " + pin
	case strings.EqualFold(distribution, "ubuntu"):
		return "Debian does not package Ubuntu's archive keyring: " + pin +
			" (recipes/ubuntu.hcl: --var keyring=https://…/ubuntu-archive-keyring.gpg), or install ubuntu-keyring on Ubuntu"
	}
	return "install the package that provides " + path + ", or " + pin
}
