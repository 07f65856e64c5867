package bootstrap

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/packages"
)

// What builder lock and build --locked need to know of a Debian
// bootstrap block besides its attributes: the keyring its tool checks
// the archive with, to check the same archive from the host.

// ArchiveKeyring is the host file debootstrap or mmdebstrap checks the
// block's archive with: the recipe's keyring (its pinned keys only, when
// it pins fingerprints; fetched when it is a URL), else the tool's
// default for the suite; "" when builder does not know it. workDir holds
// a pinned copy.
func ArchiveKeyring(ctx context.Context, workDir string, b *Config, distribution string) (string, error) {
	if b.Keyring != "" {
		return pinnedKeyring(ctx, Env{WorkDir: workDir}, b)
	}
	return DefaultArchiveKeyring(b, distribution, ""), nil
}

// DefaultArchiveKeyring is the keyring the block's tool uses when the
// recipe names none: debootstrap's script's, or mmdebstrap's vendor
// keyring; "" when builder does not know it. scriptsDir "" means
// DebootstrapScripts.
func DefaultArchiveKeyring(b *Config, distribution, scriptsDir string) string {
	switch b.Backend {
	case "debootstrap":
		s, err := FindSuiteScript(scriptsDir, distribution, b.Suite)
		if err != nil {
			return ""
		}
		k, err := s.DefaultKeyring()
		if err != nil {
			return ""
		}
		return k
	case "mmdebstrap":
		return VendorKeyring(distribution)
	}
	return ""
}

// ArchiveMirror is the mirror the block bootstraps from: its mirror, or
// its snapshot's directory of it; "" leaves it to the tool.
func (c *Config) ArchiveMirror() string {
	if c.Snapshot != "" && c.Mirror != "" {
		return strings.TrimSuffix(c.Mirror, "/") + "/" + c.Snapshot + "/"
	}
	return c.Mirror
}

// ArchiveComponents are the components the tool fetches: the block's,
// else main.
func (c *Config) ArchiveComponents() []string {
	if len(c.Components) == 0 {
		return []string{"main"}
	}
	return c.Components
}

// pinsName is the pins' file name, in the work directory and, while
// mmdebstrap runs, in the image's preferences.d.
const pinsName = "zz-builder-lock.pref"

// pinsFile writes the block's pins (build --locked) as apt preferences
// into the work directory for mmdebstrap, whose apt reads the target's
// preferences.d, and returns the file; "" when there is none to write.
// debootstrap has no solver to pin: it unpacks the one version the
// suite's index has, and --locked has checked the archive has the
// locked one.
func (d debootstrapBackend) pinsFile(env Env, b *Config) (string, error) {
	if d.tool != "mmdebstrap" || len(b.Pins) == 0 {
		return "", nil
	}
	prefs, err := packages.AptPreferences(b.Pins)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(env.WorkDir, ".builder-pins-")
	if err != nil {
		return "", fmt.Errorf("pinning the locked versions: %w", err)
	}
	path := filepath.Join(dir, pinsName)
	if err := os.WriteFile(path, []byte(prefs), 0o644); err != nil {
		return "", fmt.Errorf("pinning the locked versions: %w", err)
	}
	return path, nil
}

// withPinHooks gives mmdebstrap the pins before it runs apt, and removes
// them from the image once it is done, before the suite and the target.
func withPinHooks(argv []string, pins string) []string {
	hooks := []string{
		"--setup-hook=mkdir -p \"$1/etc/apt/preferences.d\"",
		// mmdebstrap splits a special hook's arguments as a shell does
		// (Text::ParseWords): a work directory with a space or a quote
		// in its path stays one argument.
		"--setup-hook=copy-in " + hookQuote(pins) + " /etc/apt/preferences.d",
		"--customize-hook=rm -f \"$1/etc/apt/preferences.d/" + pinsName + "\"",
	}
	return slices.Insert(slices.Clone(argv), 1, hooks...)
}

// writeSnapshotSources makes the image's apt accept the snapshot a block
// bootstrapped from: the tool wrote "deb SNAPSHOT SUITE COMPONENTS", to
// which this adds check-valid-until=no, since a snapshot's Release
// files are past their Valid-Until. The image keeps it: its apt reads
// the same frozen archive.
func writeSnapshotSources(dir string, b *Config) error {
	if b.Snapshot == "" {
		return nil
	}
	return confined.WriteFile(dir, confined.File{Path: "/etc/apt/sources.list", Content: SnapshotSources(b),
		Ownership: confined.Ownership{Mode: 0o644, Owner: "0", Group: "0"}})
}

// SnapshotSources is the image's sources.list for a block with a
// snapshot.
func SnapshotSources(b *Config) string {
	return fmt.Sprintf("deb [check-valid-until=no] %s %s %s\n", b.ArchiveMirror(), b.Suite, strings.Join(b.ArchiveComponents(), " "))
}

// hookQuote single-quotes s for mmdebstrap's hook parser.
func hookQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
