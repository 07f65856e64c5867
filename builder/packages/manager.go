// Package packages holds the package managers a packages block drives
// inside an image (apt.go), behind the Manager interface (manager.go),
// and the repository block's sources file (repository.go).
package packages

import (
	"context"
	"fmt"
	"slices"
	"strings"
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

// Kind declares one package manager: the name a packages block gives it
// (manager = "apt") and how to drive it with commands run in the image.
// It runs inside the image, so it needs no tool of the build host.
type Kind struct {
	Name string
	New  func(run RunFunc) Manager
	// DownloadDir is where it keeps the packages it downloads in the
	// image, which the build's cache shares between builds; empty for
	// none.
	DownloadDir string
	// VMBoot lists the parts of a virtual machine's boot chain and the
	// packages that provide them, for an architecture (MissingVMBoot);
	// nil for a manager that cannot make a bootable image.
	VMBoot func(arch string, secureBoot bool) ([]BootPart, error)
}

// managers are the implemented package managers, sorted by name; the
// recipe language accepts these names.
var managers = []Kind{
	{Name: "apt", New: func(run RunFunc) Manager { return apt{run: run} }, DownloadDir: "/var/cache/apt/archives", VMBoot: aptVMBoot},
}

// Managers lists the implemented package managers, sorted by name.
func Managers() []Kind { return slices.Clone(managers) }

// ManagerNames lists the implemented package managers' names, sorted.
func ManagerNames() []string {
	names := make([]string, len(managers))
	for i, m := range managers {
		names[i] = m.Name
	}
	return names
}

// New returns the package manager a packages block names, running its
// commands with run.
func New(name string, run RunFunc) (Manager, error) {
	kind, err := lookup(name)
	if err != nil {
		return nil, err
	}
	return kind.New(run), nil
}

func lookup(name string) (Kind, error) {
	for _, m := range managers {
		if m.Name == name {
			return m, nil
		}
	}
	return Kind{}, fmt.Errorf("no package manager %q; known: %s", name, strings.Join(ManagerNames(), ", "))
}

// Apply runs one packages block: update, upgrade, install,
// remove, cleanup, in that order, each only when asked for.
func Apply(ctx context.Context, pm Manager, p *Config) error {
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
