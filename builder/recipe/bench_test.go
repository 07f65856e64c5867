package recipe

import "testing"

// BenchmarkLoadDebian measures what `builder validate recipes/debian.hcl`
// spends in the recipe language: parse, evaluate, check (six templates
// parsed with pongo2). No C tool does this job, so there is no ratio;
// docs/benchmarks.md records the figure to catch regressions.
func BenchmarkLoadDebian(b *testing.B) {
	opts := Options{HostArch: "amd64", Vars: []string{"variant=cloud"}}
	for b.Loop() {
		if _, diags := NewLoader().Load("../../recipes/debian.hcl", opts); diags.HasErrors() {
			b.Fatal(diags)
		}
	}
}
