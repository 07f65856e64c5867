package bootstrap

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DebootstrapScripts is where Debian's debootstrap keeps one script per
// suite (most of them links to a family's script).
const DebootstrapScripts = "/usr/share/debootstrap/scripts"

// familyScripts name, for each distribution, the debootstrap script
// every suite newer than the installed debootstrap runs with: debootstrap
// itself links every Ubuntu suite since gutsy to gutsy's script, and
// every Debian suite since wheezy to sid's; a suite released after the
// build host's debootstrap has no link yet (Debian 12's debootstrap
// knows no Ubuntu suite after jammy). Other distributions are not
// guessed: a wrong script fails in ways that are hard to read.
var familyScripts = map[string]string{
	"debian": "sid",
	"ubuntu": "gutsy",
}

// SuiteScript is the debootstrap script that runs a suite.
type SuiteScript struct {
	// Path is the script's file.
	Path string
	// Family is the family script's name ("gutsy") when the suite has no
	// script of its own, and "" when it has.
	Family string
}

// NoSuiteScriptError is a suite debootstrap has no script for, and whose
// family builder does not know.
type NoSuiteScriptError struct {
	Suite, Distribution, Dir string
}

func (e *NoSuiteScriptError) Error() string {
	return fmt.Sprintf("debootstrap has no script for the suite %s (none in %s), and builder knows no script for %s suites (it does for %s)",
		e.Suite, e.Dir, e.Distribution, strings.Join(slices.Sorted(maps.Keys(familyScripts)), " and "))
}

// FindSuiteScript finds the script debootstrap runs suite with, in dir
// (empty: DebootstrapScripts): the suite's own, or its distribution's
// family script.
func FindSuiteScript(dir, distribution, suite string) (SuiteScript, error) {
	if dir == "" {
		dir = DebootstrapScripts
	}
	own := filepath.Join(dir, suite)
	if _, err := os.Stat(own); err == nil {
		return SuiteScript{Path: own}, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return SuiteScript{}, fmt.Errorf("looking for debootstrap's script for %s: %w", suite, err)
	}
	family, ok := familyScripts[strings.ToLower(distribution)]
	if !ok {
		return SuiteScript{}, &NoSuiteScriptError{Suite: suite, Distribution: distribution, Dir: dir}
	}
	path := filepath.Join(dir, family)
	if _, err := os.Stat(path); err != nil {
		return SuiteScript{}, fmt.Errorf("debootstrap has no script for %s, nor %s's script %s, which %s suites use: %w", suite, distribution, family, distribution, err)
	}
	return SuiteScript{Path: path, Family: family}, nil
}

// DefaultKeyring is the keyring the script checks the archive with when
// the recipe names none (its "keyring FILE" line), or "" when it names
// none.
func (s SuiteScript) DefaultKeyring() (string, error) {
	f, err := os.Open(s.Path)
	if err != nil {
		return "", fmt.Errorf("reading debootstrap's script: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "keyring" {
			return fields[1], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading %s: %w", s.Path, err)
	}
	return "", nil
}

// vendorKeyrings are the keyrings mmdebstrap picks by itself for a
// distribution's suites (when the files exist); it needs no script.
var vendorKeyrings = map[string]string{
	"debian": "/usr/share/keyrings/debian-archive-keyring.gpg",
	"ubuntu": "/usr/share/keyrings/ubuntu-archive-keyring.gpg",
}

// VendorKeyring is the keyring mmdebstrap checks a distribution's
// archive with by default, or "" when builder does not know it.
func VendorKeyring(distribution string) string {
	return vendorKeyrings[strings.ToLower(distribution)]
}
