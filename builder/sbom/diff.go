package sbom

import (
	"bufio"
	"bytes"
	"path"
	"slices"
	"strings"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/treediff"
)

// Kinds of package change, as Change.Kind names them.
const (
	PackageAdded      = "added"
	PackageRemoved    = "removed"
	PackageUpgraded   = "upgraded"
	PackageDowngraded = "downgraded"
)

// Change is one package that differs between two images: a package is
// its name and architecture, so libc6:amd64 and libc6:i386 are two.
type Change struct {
	Kind         string `json:"kind"`
	Name         string `json:"name"`
	Architecture string `json:"architecture"`
	// From is the version in the first image, To in the second; empty
	// where the package is absent.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// DiffPackages lists how the packages b installs differ from a's,
// sorted by name and architecture; versions are ordered as dpkg orders
// them. Two versions dpkg finds equal ("1.0" and "1.00") are no change.
func DiffPackages(a, b []image.Package) []Change {
	type key struct{ name, arch string }
	index := func(pkgs []image.Package) map[key]string {
		m := make(map[key]string, len(pkgs))
		for _, p := range pkgs {
			m[key{p.Name, p.Architecture}] = p.Version
		}
		return m
	}
	ia, ib := index(a), index(b)
	var changes []Change
	for k, va := range ia {
		vb, ok := ib[k]
		switch c := CompareVersions(va, vb); {
		case !ok:
			changes = append(changes, Change{Kind: PackageRemoved, Name: k.name, Architecture: k.arch, From: va})
		case c < 0:
			changes = append(changes, Change{Kind: PackageUpgraded, Name: k.name, Architecture: k.arch, From: va, To: vb})
		case c > 0:
			changes = append(changes, Change{Kind: PackageDowngraded, Name: k.name, Architecture: k.arch, From: va, To: vb})
		}
	}
	for k, vb := range ib {
		if _, ok := ia[k]; !ok {
			changes = append(changes, Change{Kind: PackageAdded, Name: k.name, Architecture: k.arch, To: vb})
		}
	}
	slices.SortFunc(changes, func(x, y Change) int {
		if c := strings.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		return strings.Compare(x.Architecture, y.Architecture)
	})
	return changes
}

// DpkgInfoDir is where dpkg keeps each package's file list
// (PACKAGE.list, or PACKAGE:ARCH.list for a Multi-Arch: same one) and
// its other records, as a path in an image tree.
const DpkgInfoDir = "/var/lib/dpkg/info/"

// IsDpkgList says whether an image path is one of dpkg's file lists.
func IsDpkgList(p string) bool {
	return strings.HasPrefix(p, DpkgInfoDir) && strings.HasSuffix(p, ".list") && !strings.Contains(p[len(DpkgInfoDir):], "/")
}

// Accounted returns whether an image path is accounted for by the
// package changes, given both images' trees read with their dpkg file
// lists (Options.Capture = IsDpkgList): a path a changed package's list
// names in either image, dpkg's records of a changed package in
// DpkgInfoDir (its list, md5sums, maintainer scripts), and dpkg's
// status database, which every change rewrites. A listed path is also
// taken as each tree resolves its directories' symlinks: with merged
// /usr, dpkg lists /bin/bash, which the tree holds as /usr/bin/bash.
// Without changes, nothing is.
func Accounted(changes []Change, trees ...*treediff.Tree) func(path string) bool {
	if len(changes) == 0 {
		return func(string) bool { return false }
	}
	// dpkg names a package's records NAME.* or NAME:ARCH.*.
	owners := map[string]bool{}
	for _, c := range changes {
		owners[c.Name] = true
		owners[c.Name+":"+c.Architecture] = true
	}
	record := func(p string) bool {
		name, ok := strings.CutPrefix(p, DpkgInfoDir)
		if !ok || strings.Contains(name, "/") {
			return false
		}
		i := strings.LastIndexByte(name, '.')
		return i > 0 && owners[name[:i]]
	}
	paths := map[string]bool{"/var/lib/dpkg/status": true, "/var/lib/dpkg/status-old": true}
	// Only a path one of the trees holds can differ: the others a list
	// names are not kept, so that a hostile list of millions of paths
	// costs no more memory than the trees already hold.
	keep := func(p string) {
		for _, t := range trees {
			if _, ok := t.Nodes[p]; ok {
				paths[p] = true
				return
			}
		}
	}
	for _, t := range trees {
		for listPath, content := range t.Files {
			if !IsDpkgList(listPath) || !record(listPath) {
				continue
			}
			sc := bufio.NewScanner(bytes.NewReader(content))
			sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
			for sc.Scan() {
				line := sc.Text()
				if !strings.HasPrefix(line, "/") {
					continue
				}
				keep(path.Clean(line))
				for _, other := range trees {
					keep(resolveDirs(other.Nodes, line))
				}
			}
		}
	}
	return func(p string) bool { return paths[p] || record(p) }
}

// resolveDirs resolves the symlinks among p's directories (not its last
// component) as the tree nodes hold them, inside the tree: an absolute
// target from its root, ".." clamped there, at most 40 links.
func resolveDirs(nodes map[string]*treediff.Node, p string) string {
	parts := splitPath(p)
	cur := ""
	for i, hops := 0, 0; i < len(parts); i++ {
		next := cur + "/" + parts[i]
		n := nodes[next]
		if n != nil && n.Type == treediff.TypeSymlink && i < len(parts)-1 && hops < 40 {
			hops++
			base := n.Link
			if !strings.HasPrefix(base, "/") {
				base = path.Join("/"+cur, base)
			}
			parts = append(splitPath(path.Clean("/"+base)), parts[i+1:]...)
			cur, i = "", -1
			continue
		}
		cur = next
	}
	if cur == "" {
		return "/"
	}
	return cur
}

// splitPath splits an absolute path into its non-empty components.
func splitPath(p string) []string {
	var parts []string
	for _, c := range strings.Split(path.Clean("/"+p), "/") {
		if c != "" {
			parts = append(parts, c)
		}
	}
	return parts
}
