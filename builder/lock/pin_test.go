package lock

import (
	"slices"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/packages"
	"github.com/builder-images/builder/builder/recipe"
)

// TestPinReachesTheStage: Pin gives the plan's bootstrap and packages
// blocks the pins, the plan codec carries them to the isolated stage,
// the cache keys stay those of the unpinned plan (a locked build reuses
// the stages its lock was made from), and another plan sharing the
// actions is left alone.
func TestPinReachesTheStage(t *testing.T) {
	load := func() *recipe.Plan {
		t.Helper()
		plan, diags := recipe.NewLoader().Load("../../recipes/debian.hcl", recipe.Options{HostArch: "amd64"})
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return plan
	}
	plan, other := load(), load()
	other.Steps = slices.Clone(plan.Steps)
	before, err := cache.Points(plan, "")
	if err != nil {
		t.Fatal(err)
	}
	b := &Block{Packages: []Package{{Name: "less", Version: "590-2.1~deb12u2", Architecture: "amd64"}}}
	Pin(plan, b)
	after, err := cache.Points(plan, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range before {
		if before[i].Key != after[i].Key {
			t.Errorf("point %s: key %s pinned, %s not", before[i].Name(), after[i].Key, before[i].Key)
		}
	}
	data, err := recipe.MarshalPlan(plan)
	if err != nil {
		t.Fatal(err)
	}
	sent, err := recipe.UnmarshalPlan(data)
	if err != nil {
		t.Fatal(err)
	}
	var pinned int
	for _, s := range sent.Steps {
		switch a := s.Action.(type) {
		case *bootstrap.Config:
			pinned++
			if !slices.Equal(a.Pins, []string{"less=590-2.1~deb12u2"}) {
				t.Errorf("bootstrap pins %v", a.Pins)
			}
		case *packages.Config:
			pinned++
			if !slices.Equal(a.Pins, []string{"less=590-2.1~deb12u2"}) {
				t.Errorf("packages %q pins %v", s.Name, a.Pins)
			}
		}
	}
	if pinned < 2 {
		t.Errorf("%d blocks pinned", pinned)
	}
	for _, s := range other.Steps {
		if p, ok := s.Action.(*packages.Config); ok && len(p.Pins) > 0 {
			t.Errorf("the other plan's packages %q got pins", s.Name)
		}
	}
}

// TestCheckLocksSomething: a lock without packages for a plan that
// installs Debian packages is refused (build --locked would compare
// nothing: a recipe that deletes dpkg's status, a lock whose package
// blocks were deleted); busybox's empty lock is fine.
func TestCheckLocksSomething(t *testing.T) {
	debian, diags := recipe.NewLoader().Load("../../recipes/debian.hcl", recipe.Options{HostArch: "amd64"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	busybox, diags := recipe.NewLoader().Load("../../recipes/busybox.hcl", recipe.Options{HostArch: "amd64"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	empty := &Block{Key: Key{Architecture: "amd64", Variant: "default", InstanceType: "container"}}
	if err := CheckLocksSomething(debian, empty); err == nil || !strings.Contains(err.Error(), "amd64 default container locks no package although debootstrap installs some") {
		t.Errorf("debian, no packages: %v", err)
	}
	if err := CheckLocksSomething(busybox, empty); err != nil {
		t.Errorf("busybox, no packages: %v", err)
	}
	full := &Block{Packages: []Package{{Name: "less", Version: "1", Architecture: "amd64"}}}
	if err := CheckLocksSomething(debian, full); err != nil {
		t.Errorf("debian with packages: %v", err)
	}
}
