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
			f.Add(b)
		}
	}
	f.Add([]byte(`packages { install = [for p in ["a", "b"] : p] }`))
	f.Add([]byte(`locals { a = local.b
b = local.a }`))
	// The recipe sits next to testdata/files so seeds that read templates
	// and scripts find them.
	dir := f.TempDir()
	if err := os.Symlink(mustAbs(f, "testdata/files"), filepath.Join(dir, "files")); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		path := filepath.Join(dir, "fuzz.hcl")
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		plan, diags := NewLoader().Load(path, Options{HostArch: "amd64"})
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
