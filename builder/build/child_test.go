package build

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/recipe"
)

// TestStageRequestRoundTrip: the isolated stage computes the cache keys
// from the plan it is sent, and the packed rootfs of a build is reused
// only when they equal the ones builder computed from the plan it
// loaded; the texts to mask, the history's variables and what the stage
// runs come through too.
func TestStageRequestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		recipe string
		vars   []string
	}{
		{"../../recipes/busybox.hcl", nil},
		{"../../recipes/debian.hcl", []string{"variant=default"}},
		{"../../recipes/debian.hcl", []string{"variant=cloud"}},
		{"../../cmd/builder/testdata/rootfs/sensitive.hcl", []string{"token=tok-5d1e-SECRET-a9b7", "fail=true"}},
	} {
		t.Run(strings.Join(append([]string{filepath.Base(tc.recipe)}, tc.vars...), " "), func(t *testing.T) {
			plan, diags := recipe.NewLoader().Load(tc.recipe, recipe.Options{Vars: tc.vars, HostArch: "amd64"})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			want := StageRequest{Plan: plan, Dir: "/work/rootfs", Cache: cache.Policy{Dir: "/cache", NoCache: true, TTL: 36 * time.Hour},
				Recipe: "/recipes/x.hcl", Environ: []string{"SOURCE_DATE_EPOCH=1700000000", "http_proxy=http://proxy:3128"}}
			b, err := json.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			var got StageRequest
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			sent, received := want, got
			sent.Plan, received.Plan = nil, nil
			if !reflect.DeepEqual(sent, received) {
				t.Errorf("request: got %+v, want %+v", received, sent)
			}
			wantPoints, err := cache.Points(plan, "1700000000")
			if err != nil {
				t.Skipf("the recipe's host inputs: %v", err)
			}
			gotPoints, err := cache.Points(got.Plan, "1700000000")
			if err != nil {
				t.Fatal(err)
			}
			if len(wantPoints) == 0 || !reflect.DeepEqual(gotPoints, wantPoints) {
				t.Errorf("cache points:\ngot  %+v\nwant %+v", gotPoints, wantPoints)
			}
			if g, w := got.Plan.Secrets(), plan.Secrets(); !reflect.DeepEqual(g, w) {
				t.Errorf("secrets: got %q, want %q", g, w)
			}
			if g, w := cache.VariableValues(got.Plan), cache.VariableValues(plan); !reflect.DeepEqual(g, w) {
				t.Errorf("history variables: got %v, want %v", g, w)
			}
			if !reflect.DeepEqual(got.Plan.Image, plan.Image) || !reflect.DeepEqual(got.Plan.Limits, plan.Limits) ||
				!reflect.DeepEqual(got.Plan.Environment, plan.Environment) || got.Plan.File != plan.File || got.Plan.Dir != plan.Dir {
				t.Errorf("plan: got %+v, want %+v", got.Plan, plan)
			}
			steps, wantSteps := got.Plan.EnabledSteps(), plan.EnabledSteps()
			if len(steps) != len(wantSteps) {
				t.Fatalf("%d enabled steps, want %d", len(steps), len(wantSteps))
			}
			for i, s := range steps {
				w := wantSteps[i]
				if s.Kind != w.Kind || s.Name != w.Name || s.Stage != w.Stage || s.Range != w.Range || !slices.Equal(s.Sensitive, w.Sensitive) ||
					reflect.TypeOf(s.Action) != reflect.TypeOf(w.Action) {
					t.Errorf("step %d: got %+v, want %+v", i, s, w)
				}
			}
		})
	}
}
