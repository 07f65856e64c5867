package sbom

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/image"
)

// Facts are what the SBOM says about an image beyond image.json's
// packages, read from its rootfs once and kept with a packed rootfs
// file in the cache (cache.PackEntry), which is not trusted: Check
// refuses what ReadFacts could not have produced.
type Facts struct {
	// Version is FactsVersion when ReadFacts made them: the stage
	// cache keeps Facts beside a packed rootfs, and Facts read by an
	// older way of reading (another version, or none) must not give a
	// reused build another SBOM than a fresh build writes.
	Version int    `json:"version,omitempty"`
	Distro  Distro `json:"distro"`
	// Licenses are the declared licence expressions (SPDX) by package
	// name; a package without one has no machine-readable copyright
	// file, and the SBOM says NOASSERTION.
	Licenses map[string]string `json:"licenses,omitempty"`
}

// FactsVersion changes whenever ReadFacts, or what it calls
// (CopyrightLicense, parseOSRelease), would read another Facts from the
// same rootfs: cached Facts of another version are not reused.
const FactsVersion = 1

// Current reports whether f was read the way ReadFacts reads now.
func (f *Facts) Current() bool { return f != nil && f.Version == FactsVersion }

// Distro is what /etc/os-release says of the image's distribution.
type Distro struct {
	// ID is os-release's ID ("debian", "ubuntu"): the purl namespace.
	ID        string `json:"id,omitempty"`
	VersionID string `json:"version_id,omitempty"`
	Name      string `json:"pretty_name,omitempty"`
}

// limits on what is read from the image: os-release is a few hundred
// bytes, the largest copyright files in Debian a few hundred kilobytes.
const (
	maxOSRelease = 64 << 10
	maxCopyright = 8 << 20
)

// ReadFacts reads the Facts of the rootfs at root for its packages
// pkgs: /etc/os-release (or /usr/lib/os-release) and
// /usr/share/doc/NAME/copyright of each package. Everything is read
// through builder/confined, so a symlink in the image resolves inside
// it (an absolute one too, as dpkg's doc links may be), and only
// regular files are read: a FIFO cannot hang the build. A missing file,
// one that is not a regular file, or one larger than any real one is
// not an error: the SBOM then says less.
func ReadFacts(root string, pkgs []image.Package) (_ Facts, err error) {
	r, err := confined.OpenRoot(root)
	if err != nil {
		return Facts{}, fmt.Errorf("reading the SBOM's facts: %w", err)
	}
	defer func() {
		if cerr := r.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing %s: %w", root, cerr))
		}
	}()
	f := Facts{Version: FactsVersion}
	for _, name := range []string{"etc/os-release", "usr/lib/os-release"} {
		data, err := readRegular(r, name, maxOSRelease)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Facts{}, fmt.Errorf("reading the SBOM's facts: %w", err)
		}
		f.Distro = parseOSRelease(string(data))
		break
	}
	for _, p := range pkgs {
		if _, done := f.Licenses[p.Name]; done || !validPackageName(p.Name) {
			continue
		}
		data, err := readRegular(r, "usr/share/doc/"+p.Name+"/copyright", maxCopyright)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Facts{}, fmt.Errorf("reading the SBOM's facts: %w", err)
		}
		if expr := CopyrightLicense(string(data)); expr != "" {
			if f.Licenses == nil {
				f.Licenses = map[string]string{}
			}
			f.Licenses[p.Name] = expr
		}
	}
	return f, nil
}

// readRegular reads a regular file inside r, of at most limit bytes.
func readRegular(r *confined.Root, name string, limit int64) ([]byte, error) {
	st, err := r.Stat(name)
	if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		// A doc directory that is a file, or a link loop: nothing to
		// read, as when it is missing.
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		// A FIFO, device or directory where a text file belongs says
		// nothing; the SBOM says less rather than fail the build.
		return nil, fs.ErrNotExist
	}
	if st.Size > limit {
		// Larger than any real one: read as missing too, so that an
		// image's file cannot fail the build, or make it hold the file.
		return nil, fs.ErrNotExist
	}
	return r.ReadFile(name)
}

// parseOSRelease reads os-release's KEY=VALUE lines, VALUE bare or in
// single or double quotes.
func parseOSRelease(text string) Distro {
	var d Distro
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		key, value, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(key, "#") {
			continue
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = strings.ReplaceAll(value[1:len(value)-1], `\"`, `"`)
		}
		switch key {
		case "ID":
			if validDistroID(value) {
				d.ID = value
			}
		case "VERSION_ID":
			if validDistroID(value) {
				d.VersionID = value
			}
		case "PRETTY_NAME":
			d.Name = printable(value, 200)
		}
	}
	return d
}

var (
	// os-release's ID and VERSION_ID: lower-case letters, digits, ".",
	// "_" and "-".
	distroIDRe = regexp.MustCompile(`^[a-z0-9._-]{1,64}$`)
	// Debian policy's package names, with some slack for other dpkg
	// users.
	packageNameRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9+.-]{0,254}$`)
)

func validDistroID(s string) bool    { return distroIDRe.MatchString(s) }
func validPackageName(s string) bool { return packageNameRe.MatchString(s) }

// printable keeps s if it is printable text of at most max bytes, and
// drops it otherwise: it is the image's word, shown to users.
func printable(s string, max int) string {
	if len(s) > max {
		return ""
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return ""
		}
	}
	return s
}

// Check refuses Facts that ReadFacts would not have produced: the
// cache's copy may have been changed.
func (f Facts) Check() error {
	if f.Distro.ID != "" && !validDistroID(f.Distro.ID) || f.Distro.VersionID != "" && !validDistroID(f.Distro.VersionID) {
		return fmt.Errorf("the distribution %q %q is not an os-release ID and VERSION_ID", f.Distro.ID, f.Distro.VersionID)
	}
	if printable(f.Distro.Name, 200) != f.Distro.Name {
		return fmt.Errorf("the distribution's name %q is not printable text", f.Distro.Name)
	}
	for name, expr := range f.Licenses {
		if !validPackageName(name) {
			return fmt.Errorf("the licence of %q: not a package name", name)
		}
		if err := checkExpression(expr); err != nil {
			return fmt.Errorf("the licence of %s: %w", name, err)
		}
	}
	return nil
}
