package image

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
)

// dpkgStatusPath is dpkg's database of package states, inside an image.
const dpkgStatusPath = "var/lib/dpkg/status"

// ReadDpkgStatus lists the packages installed in the image at root, from
// <root>/var/lib/dpkg/status, sorted by name then architecture.
//
// A package counts as installed when its Status is "<want> ok installed":
// "install ok installed", and also "hold ok installed" (apt-mark hold),
// whose files are in the image just the same. Removed packages
// ("deinstall ok config-files"), half-installed or unpacked ones do not.
//
// An image without the file (busybox, or no dpkg at all) has no packages:
// that is not an error. The file is opened through os.Root, so a symlink
// in the image cannot lead outside root, and it must be a regular file
// (opened non-blocking, so a FIFO there cannot hang the build).
func ReadDpkgStatus(root string) (pkgs []Package, err error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("reading installed packages: %w", err)
	}
	defer func() {
		if cerr := r.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing %s: %w", root, cerr))
		}
	}()
	f, err := r.OpenFile(dpkgStatusPath, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading installed packages: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing /%s: %w", dpkgStatusPath, cerr))
		}
	}()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading installed packages: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("reading installed packages: /%s in %s is not a regular file (%s)", dpkgStatusPath, root, info.Mode().Type())
	}
	pkgs, err = parseDpkgStatus(f)
	if err != nil {
		return nil, fmt.Errorf("reading installed packages: /%s in %s: %w", dpkgStatusPath, root, err)
	}
	return pkgs, nil
}

// parseDpkgStatus reads deb822 paragraphs: "Field: value" lines,
// continuation lines starting with a space or tab, paragraphs separated
// by blank lines. Only Package, Status, Version, Architecture and Source
// matter.
func parseDpkgStatus(r io.Reader) ([]Package, error) {
	var pkgs []Package
	var para map[string]string
	start, lineNo := 0, 0
	flush := func() error {
		if para == nil {
			return nil
		}
		p, ok, err := installedPackage(para)
		para = nil
		if err != nil {
			return fmt.Errorf("paragraph at line %d: %w", start, err)
		}
		if ok {
			pkgs = append(pkgs, p)
		}
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			if err := flush(); err != nil {
				return nil, err
			}
		case line[0] == ' ' || line[0] == '\t':
			if para == nil {
				return nil, fmt.Errorf("line %d: a continuation line outside a field", lineNo)
			}
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("line %d: %q is not a \"Field: value\" line", lineNo, line)
			}
			if para == nil {
				para, start = map[string]string{}, lineNo
			}
			para[strings.ToLower(name)] = strings.TrimSpace(value)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	sortPackages(pkgs)
	return pkgs, nil
}

// installedPackage returns the package a paragraph describes when it is
// installed.
func installedPackage(para map[string]string) (Package, bool, error) {
	name := para["package"]
	if name == "" {
		return Package{}, false, errors.New("no Package field")
	}
	status := strings.Fields(para["status"])
	if len(status) != 3 {
		return Package{}, false, fmt.Errorf("package %s: Status %q is not \"want flag status\"", name, para["status"])
	}
	if status[1] != "ok" || status[2] != "installed" {
		return Package{}, false, nil
	}
	p := Package{Name: name, Version: para["version"], Architecture: para["architecture"]}
	if p.Version == "" || p.Architecture == "" {
		return Package{}, false, fmt.Errorf("installed package %s has no Version or no Architecture", name)
	}
	source, err := parseSource(para["source"])
	if err != nil {
		return Package{}, false, fmt.Errorf("installed package %s: %w", name, err)
	}
	if source.Name != name {
		p.Source = source.Name
	}
	if source.Version != p.Version {
		p.SourceVersion = source.Version
	}
	return p, true, nil
}

// sourceRef is a Source field: "NAME" or "NAME (VERSION)".
type sourceRef struct{ Name, Version string }

// parseSource reads a Source field; dpkg writes it only when the source
// package's name or version differs from the binary's, so an empty
// field yields an empty sourceRef, which the caller reads as "the same".
func parseSource(field string) (sourceRef, error) {
	if field == "" {
		return sourceRef{}, nil
	}
	name, rest, hasVersion := strings.Cut(field, " ")
	rest = strings.TrimSpace(rest)
	if !hasVersion || rest == "" {
		return sourceRef{Name: name}, nil
	}
	version, ok := strings.CutPrefix(rest, "(")
	version, ok2 := strings.CutSuffix(version, ")")
	version = strings.TrimSpace(version)
	if !ok || !ok2 || version == "" || strings.ContainsAny(version, " ()") {
		return sourceRef{}, fmt.Errorf("field Source %q is not \"name\" or \"name (version)\"", field)
	}
	return sourceRef{Name: name, Version: version}, nil
}

func sortPackages(pkgs []Package) {
	slices.SortFunc(pkgs, func(a, b Package) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Architecture, b.Architecture), cmp.Compare(a.Version, b.Version))
	})
}
