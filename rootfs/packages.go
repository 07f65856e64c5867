package rootfs

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/builder-images/builder/builder/recipe"
)

// PackageManager is what a packages block needs from a distribution's
// package manager. apt is the one implemented; others (dnf, apk) fit the
// same five operations.
type PackageManager interface {
	Update(ctx context.Context) error
	Upgrade(ctx context.Context) error
	Install(ctx context.Context, packages []string) error
	Remove(ctx context.Context, packages []string) error
	Cleanup(ctx context.Context) error
}

// run executes a package manager command in the chroot.
type run func(ctx context.Context, argv ...string) error

var packageManagers = map[string]func(run) PackageManager{
	"apt": func(r run) PackageManager { return apt{run: r} },
}

// PackageManagerNames lists the implemented package managers, sorted.
func PackageManagerNames() []string { return slices.Sorted(maps.Keys(packageManagers)) }

// applyPackages runs one packages block: update, upgrade, install,
// remove, cleanup, in that order, each only when asked for.
func applyPackages(ctx context.Context, pm PackageManager, p *recipe.Packages) error {
	ops := []struct {
		on bool
		do func(context.Context) error
	}{
		{p.Update, pm.Update},
		{p.Upgrade, pm.Upgrade},
		{len(p.Install) > 0, func(ctx context.Context) error { return pm.Install(ctx, p.Install) }},
		{len(p.Remove) > 0, func(ctx context.Context) error { return pm.Remove(ctx, p.Remove) }},
		{p.Cleanup, pm.Cleanup},
	}
	for _, op := range ops {
		if op.on {
			if err := op.do(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// apt drives apt-get non-interactively. Configuration files changed by
// the image keep their version (--force-confold); recommended packages
// are not installed, so images hold what recipes name. dpkg does not
// fsync each file it unpacks (--force-unsafe-io): a build tree is
// packed from the page cache or thrown away, never booted after a crash.
type apt struct{ run run }

var aptOptions = []string{
	"-y", "-q",
	"-o", "Dpkg::Options::=--force-confdef",
	"-o", "Dpkg::Options::=--force-confold",
	"-o", "APT::Install-Recommends=false",
	"-o", "Dpkg::Options::=--force-unsafe-io",
}

func (a apt) get(ctx context.Context, args ...string) error {
	argv := append([]string{"apt-get"}, aptOptions...)
	return a.run(ctx, append(argv, args...)...)
}

func (a apt) Update(ctx context.Context) error  { return a.get(ctx, "update") }
func (a apt) Upgrade(ctx context.Context) error { return a.get(ctx, "dist-upgrade") }

func (a apt) Install(ctx context.Context, pkgs []string) error {
	return a.get(ctx, append([]string{"install"}, pkgs...)...)
}

func (a apt) Remove(ctx context.Context, pkgs []string) error {
	return a.get(ctx, append([]string{"purge"}, pkgs...)...)
}

func (a apt) Cleanup(ctx context.Context) error {
	if err := a.get(ctx, "autoremove", "--purge"); err != nil {
		return err
	}
	return a.get(ctx, "clean")
}

// sourcesFile renders a repository as a deb822 .sources file, with its
// key referenced by Signed-By.
func sourcesFile(r *recipe.Repository, keyPath string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by builder from the recipe's repository %q.\n", r.Name)
	fmt.Fprintf(&b, "Types: %s\n", strings.Join(r.Types, " "))
	fmt.Fprintf(&b, "URIs: %s\n", r.URL)
	fmt.Fprintf(&b, "Suites: %s\n", strings.Join(r.Suites, " "))
	if len(r.Components) > 0 {
		fmt.Fprintf(&b, "Components: %s\n", strings.Join(r.Components, " "))
	}
	if len(r.Architectures) > 0 {
		fmt.Fprintf(&b, "Architectures: %s\n", strings.Join(r.Architectures, " "))
	}
	if keyPath != "" {
		fmt.Fprintf(&b, "Signed-By: %s\n", keyPath)
	}
	return b.String()
}
