package main

import (
	gobuild "go/build"
	"slices"
	"strings"
	"testing"
)

// TestCommandsImportNoPipelineInternals keeps cmd/builder to flags,
// printing and exit codes: the pipeline's internals are reached through
// the library (builder/build, builder/doctor, …), never named here.
func TestCommandsImportNoPipelineInternals(t *testing.T) {
	const module = "github.com/builder-images/builder/builder/"
	internals := []string{"isolation", "stage", "confined", "emulation", "bootstrap", "packages", "steps"}
	// ImportDir reads the non-test files only.
	pkg, err := gobuild.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pkg.Imports, module+"build") {
		t.Fatalf("cmd/builder's imports lack builder/build; read the wrong files? %v", pkg.Imports)
	}
	for _, imp := range pkg.Imports {
		for _, internal := range internals {
			if p := module + internal; imp == p || strings.HasPrefix(imp, p+"/") {
				t.Errorf("cmd/builder imports %s; reach it through the library (builder/build, builder/doctor) instead", imp)
			}
		}
	}
}
