package packages

import (
	"context"
)

// apt drives apt-get non-interactively. Configuration files changed by
// the image keep their version (--force-confold); recommended packages
// are not installed, so images hold what recipes name. dpkg does not
// fsync each file it unpacks (--force-unsafe-io): a build tree is
// packed from the page cache or thrown away, never booted after a crash.
type apt struct{ run RunFunc }

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
