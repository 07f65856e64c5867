package packages

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/builder-images/builder/builder/confined"
)

// PinsPath is where, in the image, apt finds build --locked's pins while
// a packages block runs; it is removed after the block, so no snapshot
// and no image keeps it.
const PinsPath = "/etc/apt/preferences.d/zz-builder-lock.pref"

// AptPreferences renders "name=version" pins as apt preferences that
// make apt install exactly those versions: priority 1001 installs a
// version even when it is older than the one installed (a downgrade),
// so that update, upgrade and install all end at the lock. The pins come
// from a parsed lock file, whose names and versions hold no newline.
func AptPreferences(pins []string) (string, error) {
	var b strings.Builder
	b.WriteString("# Written by builder build --locked for the build only.\n")
	for _, pin := range pins {
		name, version, ok := strings.Cut(pin, "=")
		if !ok || name == "" || version == "" || strings.ContainsAny(pin, "\n\r\t ") {
			return "", fmt.Errorf("pin %q is not name=version", pin)
		}
		fmt.Fprintf(&b, "\nPackage: %s\nPin: version %s\nPin-Priority: 1001\n", name, version)
	}
	return b.String(), nil
}

// withPins runs fn with p's pins in the image at dir, and removes them
// after, whatever fn returned.
func withPins(dir string, pins []string, fn func() error) (err error) {
	if len(pins) == 0 {
		return fn()
	}
	prefs, err := AptPreferences(pins)
	if err != nil {
		return err
	}
	if err := checkPinsFree(dir); err != nil {
		return err
	}
	if err := confined.WriteFile(dir, confined.File{Path: PinsPath, Content: prefs, Ownership: rootOwned(0o644)}); err != nil {
		return fmt.Errorf("pinning the locked versions: %w", err)
	}
	defer func() {
		if rmErr := confined.Remove(dir, PinsPath, true); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("removing the locked versions' pins: %w", rmErr))
		}
	}()
	return fn()
}

// checkPinsFree fails when the image has a file of its own at PinsPath:
// writing the pins over it, then removing them, would lose it.
func checkPinsFree(dir string) error {
	root, err := confined.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("pinning the locked versions: %w", err)
	}
	defer root.Close()
	_, err = root.Lstat(PinsPath)
	switch {
	case err == nil:
		return fmt.Errorf("pinning the locked versions: the image has %s of its own, which the pins would replace and remove: rename it", PinsPath)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	}
	return fmt.Errorf("pinning the locked versions: %w", err)
}
