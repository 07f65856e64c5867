package recipe

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the whole decoder: parse, variables,
// locals, steps and checks must report diagnostics, never panic.
//
//	go test ./builder/recipe -run '^$' -fuzz FuzzLoad -fuzztime 60s
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.hcl")
	seeds = append(seeds, "../../recipes/debian.hcl", "../../recipes/busybox.hcl")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b, "variant=cloud", "x = [1, 2]")
		}
	}
	f.Add([]byte(`packages { install = [for p in ["a", "b"] : p] }`), "nosuch=1", "")
	f.Add([]byte(`locals { a = local.b
b = local.a }`), "=", "a = \"")
	f.Add([]byte(`variable "n" { type = list(number) }`), "n=[1, \"x\"]", "n = {}")
	// The recipe sits next to testdata/files so seeds that read templates
	// and scripts find them.
	dir := f.TempDir()
	if err := os.Symlink(mustAbs(f, "testdata/files"), filepath.Join(dir, "files")); err != nil {
		f.Fatal(err)
	}
	// The second and third inputs are a --var option and a var file, so
	// value parsing is fuzzed too.
	f.Fuzz(func(t *testing.T, src []byte, cliVar, varFile string) {
		path := filepath.Join(dir, "fuzz.hcl")
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		varPath := filepath.Join(dir, "fuzz.vars")
		if err := os.WriteFile(varPath, []byte(varFile), 0o644); err != nil {
			t.Fatal(err)
		}
		opts := Options{HostArch: "amd64", Vars: []string{cliVar}, VarFiles: []string{varPath}, Environ: []string{"BUILDER_VAR_" + cliVar}}
		plan, diags := NewLoader().Load(path, opts)
		if !diags.HasErrors() && plan == nil {
			t.Fatal("no plan and no errors")
		}
		// fmt must be idempotent, or fmt --check would never settle.
		if once, diags := Format(src, "fuzz.hcl"); !diags.HasErrors() {
			twice, _ := Format(once, "fuzz.hcl")
			if string(once) != string(twice) {
				t.Errorf("Format is not idempotent:\n%q\n%q", once, twice)
			}
		}
	})
}

func mustAbs(f *testing.F, p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		f.Fatal(err)
	}
	return abs
}
