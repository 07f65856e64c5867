package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const modulePath = "github.com/builder-images/builder"

// TestArchitectureMap keeps docs/architecture.md true: its package map
// lists every package of the tree and nothing else, and, read top to
// bottom, is the layering: a package imports only packages listed below
// its own row.
func TestArchitectureMap(t *testing.T) {
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := packageMapRows(t, string(doc))
	imports := modulePackages(t, "../..")
	for _, pkg := range rows {
		if _, ok := imports[pkg]; !ok {
			t.Errorf("docs/architecture.md lists %s, which is not a package of the tree", pkg)
		}
	}
	for pkg, deps := range imports {
		row := slices.Index(rows, pkg)
		if row < 0 {
			t.Errorf("docs/architecture.md has no row for %s", pkg)
			continue
		}
		for _, dep := range deps {
			if depRow := slices.Index(rows, dep); depRow >= 0 && depRow <= row {
				t.Errorf("%s imports %s, which docs/architecture.md lists above it: the layering says it must not", pkg, dep)
			}
		}
	}
}

var mapRow = regexp.MustCompile("^\\| `([a-z0-9/_]+)` \\|")

// packageMapRows reads the first column of the "## Package map" table.
func packageMapRows(t *testing.T, doc string) []string {
	start := strings.Index(doc, "## Package map")
	if start < 0 {
		t.Fatal("docs/architecture.md has no ## Package map section")
	}
	section := doc[start+len("## Package map"):]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var rows []string
	for _, line := range strings.Split(section, "\n") {
		if m := mapRow.FindStringSubmatch(line); m != nil {
			if slices.Contains(rows, m[1]) {
				t.Errorf("docs/architecture.md lists %s twice", m[1])
			}
			rows = append(rows, m[1])
		}
	}
	if len(rows) == 0 {
		t.Fatal("docs/architecture.md's package map has no rows")
	}
	return rows
}

// modulePackages maps each package directory of the module (relative to
// root) to the module's packages its non-test files import.
func modulePackages(t *testing.T, root string) map[string][]string {
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin" || name == "out") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		deps := out[pkg]
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			if dep, ok := strings.CutPrefix(path, modulePath+"/"); ok && !slices.Contains(deps, dep) {
				deps = append(deps, dep)
			}
		}
		out[pkg] = deps
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
