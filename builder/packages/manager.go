// Package packages holds the package managers a packages block drives
// inside an image (apt.go), behind the Manager interface (manager.go),
// and the repository block's sources file (repository.go).
package packages

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/builder-images/builder/builder/recipe"
)

// Manager is what a packages block needs from a distribution's
// package manager. apt is the one implemented; others (dnf, apk) fit the
// same five operations.
type Manager interface {
	Update(ctx context.Context) error
	Upgrade(ctx context.Context) error
	Install(ctx context.Context, packages []string) error
	Remove(ctx context.Context, packages []string) error
	Cleanup(ctx context.Context) error
}

// RunFunc executes a package manager command in the chroot.
type RunFunc func(ctx context.Context, argv ...string) error

var packageManagers = map[string]func(RunFunc) Manager{
	"apt": func(r RunFunc) Manager { return apt{run: r} },
}

// ManagerNames lists the implemented package managers, sorted.
func ManagerNames() []string { return slices.Sorted(maps.Keys(packageManagers)) }

// New returns the package manager a packages block names, running its
// commands with run.
func New(name string, run RunFunc) (Manager, error) {
	newManager, ok := packageManagers[name]
	if !ok {
		return nil, fmt.Errorf("no package manager %q; known: %s", name, strings.Join(ManagerNames(), ", "))
	}
	return newManager(run), nil
}

// Apply runs one packages block: update, upgrade, install,
// remove, cleanup, in that order, each only when asked for.
func Apply(ctx context.Context, pm Manager, p *recipe.Packages) error {
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
