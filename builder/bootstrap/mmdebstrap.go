package bootstrap

import "fmt"

// mmdebstrap takes debootstrap's inputs and runs as debootstrapBackend
// does; what it does differently is here.

// mmdebstrapVariants are the values of its --variant.
var mmdebstrapVariants = []string{"extract", "custom", "essential", "apt", "required", "minbase", "buildd", "important", "debootstrap", "standard"}

// mmdebstrapArchTest: mmdebstrap refuses a foreign architecture without
// it ("install arch-test for foreign architecture support"); debootstrap
// uses it when present.
var mmdebstrapArchTest = Tool{Name: "arch-test", Package: "arch-test", For: `bootstrap "mmdebstrap" for a foreign architecture`, Foreign: true}

// mmdebstrapOptions are the options builder gives mmdebstrap. Root mode:
// builder is root and isolates the build itself. mmdebstrap runs in a
// ToolView, whose sandbox has mounted the target's proc, sys and /dev
// already (so the target is not empty either) and where it could not
// mount them. dpkg need not fsync what it unpacks into a build tree (see
// apt's options in package packages).
func mmdebstrapOptions(b *Config) ([]string, error) {
	if len(b.Exclude) > 0 {
		return nil, fmt.Errorf("mmdebstrap cannot exclude packages (exclude = %v); use debootstrap, or remove them in a packages block", b.Exclude)
	}
	opts := []string{"--mode=root", "--skip=check/empty", "--skip=chroot/mount", "--dpkgopt=force-unsafe-io"}
	if b.Snapshot != "" {
		// A snapshot's Release files are past their Valid-Until.
		opts = append(opts, `--aptopt=Acquire::Check-Valid-Until "false"`)
	}
	return opts, nil
}
