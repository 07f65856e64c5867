package build

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/recipe"
)

func TestOutputDir(t *testing.T) {
	if got := OutputDir("out/x", recipe.Output{}); got != "out/x" {
		t.Errorf("unnamed output: %s", got)
	}
	if got := OutputDir("out/x", recipe.Output{Name: "vm"}); got != filepath.Join("out/x", "vm") {
		t.Errorf("named output: %s", got)
	}
}

func TestGroupOutputs(t *testing.T) {
	container := &recipe.Plan{InstanceType: recipe.InstanceContainer}
	vm := &recipe.Plan{InstanceType: recipe.InstanceVM}
	split := recipe.Output{Name: "lxd", Type: recipe.OutputSplit}
	unified := recipe.Output{Name: "unified", Type: recipe.OutputUnified}
	disk := recipe.Output{Name: "vm", Type: recipe.OutputVM}

	// Grouped by type in the plans' order, each group in the outputs'.
	groups, err := groupOutputs(Request{Plans: []*recipe.Plan{vm, container}, Outputs: []Target{
		{Output: split, Dir: "o/lxd"}, {Output: disk, Dir: "o/vm"}, {Output: unified, Dir: "o/unified"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 || groups[0].plan != vm || len(groups[0].outputs) != 1 || groups[0].outputs[0] != 1 ||
		groups[1].plan != container || len(groups[1].outputs) != 2 || groups[1].outputs[0] != 0 || groups[1].outputs[1] != 2 {
		t.Errorf("groups: %+v", groups)
	}
	// A plan no output needs makes no group.
	if groups, err := groupOutputs(Request{Plans: []*recipe.Plan{container, vm}, Outputs: []Target{{Output: split, Dir: "o"}}}); err != nil || len(groups) != 1 {
		t.Errorf("one output: %+v, %v", groups, err)
	}

	for _, c := range []struct {
		name string
		req  Request
		want string
	}{
		{"no output", Request{Plans: []*recipe.Plan{container}}, "no output"},
		{"no plan for the type", Request{Plans: []*recipe.Plan{container}, Outputs: []Target{{Output: disk, Dir: "o/vm"}}}, `output vm: the recipe was not evaluated for the instance type "vm"`},
		{"two plans of a type", Request{Plans: []*recipe.Plan{container, container}, Outputs: []Target{{Output: split, Dir: "o"}}}, "two plans"},
		{"one directory", Request{Plans: []*recipe.Plan{container}, Outputs: []Target{{Output: split, Dir: "o/x"}, {Output: unified, Dir: "o/./x"}}}, "outputs lxd and unified both go to"},
	} {
		_, err := groupOutputs(c.req)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	var reqErr *RequestError
	if _, err := groupOutputs(Request{Plans: []*recipe.Plan{container}, Outputs: []Target{{Output: split, Dir: "o"}, {Output: unified, Dir: "o"}}}); !errors.As(err, &reqErr) {
		t.Errorf("two outputs in one directory: %v is not a request error", err)
	}
}

// TestStagePolicy: the stages of a build's instance types share their
// common steps through the cache: the user's, even with --no-cache (the
// later stages take only this build's snapshots), or a private one in
// the work directory.
func TestStagePolicy(t *testing.T) {
	started := time.Now()
	work := &WorkDir{Path: "/w/.builder-work-1"}
	g := group{plan: &recipe.Plan{InstanceType: recipe.InstanceContainer}}

	b := &builder{req: Request{Cache: cache.Policy{Dir: "/c", TTL: time.Hour}}, started: started, work: work}
	if p := b.stagePolicy(g, nil); p != b.req.Cache {
		t.Errorf("with a cache: %+v", p)
	}
	b.req.Cache.NoCache = true
	if p := b.stagePolicy(g, nil); !p.NoCache || !p.Since.IsZero() {
		t.Errorf("--no-cache, first stage: %+v", p)
	}
	b.stages = 1
	if p := b.stagePolicy(g, nil); p.NoCache || !p.Since.Equal(started) || p.Dir != "/c" || p.TTL != time.Hour {
		t.Errorf("--no-cache, second stage: %+v", p)
	}

	// Without a cache, one stage uses none; a private one is shared
	// when a later plan starts like this one.
	b = &builder{started: started, work: work}
	if p := b.stagePolicy(g, nil); p.Dir != "" {
		t.Errorf("no cache, one type: %+v", p)
	}
	b.shared = filepath.Join(work.Path, "cache")
	b.stages = 1
	if p := b.stagePolicy(g, nil); p.Dir != b.shared {
		t.Errorf("no cache, the second of two types: %+v", p)
	}
}

// TestSharesSteps: a private cache is worth its snapshots only when the
// instance types' plans start alike.
func TestSharesSteps(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a", "b"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("busybox "+name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	load := func(binary string) []group {
		t.Helper()
		path := filepath.Join(dir, "r.hcl")
		text := `image {
  distribution = "t"
  release      = "r"
  architecture = "amd64"
}
bootstrap "busybox" { binary = ` + binary + ` }
packages {
  enabled = build.type == "vm"
  install = ["linux-image-amd64", "grub-efi-amd64-signed", "shim-signed"]
}
output "lxd" { type = "split" }
output "vm" { type = "vm" }
`
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		plans, diags := recipe.NewLoader().LoadEach(path, recipe.Options{HostArch: "amd64"})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		return []group{{plan: plans[0]}, {plan: plans[1]}}
	}
	same := load(`"` + filepath.Join(dir, "a") + `"`)
	if !sharesSteps(same[0], same[1:], nil) {
		t.Error("plans with one bootstrap do not share it")
	}
	apart := load(`build.type == "vm" ? "` + filepath.Join(dir, "b") + `" : "` + filepath.Join(dir, "a") + `"`)
	if sharesSteps(apart[0], apart[1:], nil) {
		t.Error("plans with different bootstraps share steps")
	}
	if sharesSteps(same[0], nil, nil) {
		t.Error("a last type shares steps with no one")
	}
}
