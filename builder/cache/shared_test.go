package cache

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/recipe"
)

// pinnedRecipe builds one instance type and reads no host file, so its
// keys are the same on every machine.
const pinnedRecipe = `
image {
  distribution = "debian"
  release      = "bookworm"
  architecture = "amd64"
}
environment {
  LANG = "C.UTF-8"
}
bootstrap "debootstrap" {
  variant = "minbase"
}
packages {
  install = ["less"]
}
run "after" {
  stage  = "post-packages"
  script = "#!/bin/sh\necho after > /etc/after\n"
}
file "/etc/motd" {
  content = "pinned\n"
}
`

func loadText(t *testing.T, src string) []*recipe.Plan {
	t.Helper()
	path := filepath.Join(t.TempDir(), "r.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	plans, diags := recipe.NewLoader().LoadEach(path, recipe.Options{HostArch: "amd64"})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return plans
}

// TestPointsPinned: the keys of a recipe that builds one instance type
// are fixed: caches filled by earlier builders keep serving it. A change
// here is a change of every user's keys, and bumps FormatVersion.
func TestPointsPinned(t *testing.T) {
	plans := loadText(t, pinnedRecipe)
	if len(plans) != 1 {
		t.Fatalf("%d plans", len(plans))
	}
	points, err := Points(plans[0], "1700000000")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range points {
		got = append(got, p.Name()+":"+p.Key)
	}
	want := []string{
		"bootstrap:531fd69467c3d1690040ad42ff95dc9037fc47e16d07f424f5d54684afedcb85",
		"packages:e5a315808e9e864e1575d18c1d79f4e622151cb6658f6e07bc41798cba07e7d5",
		"files:ad29ead15fab42e2c774e949d22097ce59dbaad25aaed7d46568bd22f6998c5b",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("keys:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// sharedRecipe has a container and a vm output; the vm's own packages
// step comes after a packages step both have and before a run step
// both have, so the two types part inside the packages group.
const sharedRecipe = pinnedRecipe + `
packages "vm" {
  enabled = build.type == "vm"
  install = ["linux-image-cloud-amd64", "grub-efi-amd64-signed", "shim-signed"]
}
output "lxd" {
  type = "split"
}
output "vm" {
  type = "vm"
}
`

// TestPointsShared: a recipe of two instance types gets a point after
// the steps they have alike, inside the packages group; its key is the
// same in both plans, so the second type's stage restores it. Evaluated
// for one type alone, the recipe keeps the three points of the groups.
func TestPointsShared(t *testing.T) {
	plans := loadText(t, sharedRecipe)
	if len(plans) != 2 || plans[0].SharedSteps != 2 || plans[1].SharedSteps != 2 {
		t.Fatalf("plans: %d; want two sharing the bootstrap and the common packages step", len(plans))
	}
	var each [2][]Point
	for i, p := range plans {
		points, err := Points(p, "1700000000")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, pt := range points {
			names = append(names, pt.Name())
		}
		if got := strings.Join(names, " "); got != "bootstrap packages-shared packages files" {
			t.Fatalf("%s points: %s", p.InstanceType, got)
		}
		if points[1].Group != GroupPackages || !points[1].Shared || points[1].Last != 1 {
			t.Errorf("%s shared point: %+v", p.InstanceType, points[1])
		}
		each[i] = points
	}
	ctr, vm := each[0], each[1]
	if ctr[0].Key != vm[0].Key || ctr[1].Key != vm[1].Key {
		t.Error("the container and vm plans give the steps they share different keys")
	}
	if ctr[2].Key == vm[2].Key || ctr[2].Last != 2 || vm[2].Last != 3 {
		t.Errorf("the rest of the packages group: container %+v, vm %+v", ctr[2], vm[2])
	}
	// The shared part's key is the one the group would have with only
	// its steps: a snapshot of the same steps on the same parent.
	alone := loadText(t, pinnedRecipe)[0]
	alone.Steps = slices.DeleteFunc(alone.Steps, func(s recipe.Step) bool { return s.Kind == "run" })
	solo, err := Points(alone, "1700000000")
	if err != nil {
		t.Fatal(err)
	}
	if solo[1].Key != ctr[1].Key {
		t.Error("the shared part's key is not the key of a group of its steps")
	}

	// One evaluation alone knows no other type: no split.
	one := *plans[1]
	one.SharedSteps = 0
	points, err := Points(&one, "1700000000")
	if err != nil {
		t.Fatal(err)
	}
	if len(points) != 3 || points[1].Shared || points[0].Key != vm[0].Key || points[1].Key == vm[1].Key {
		t.Errorf("the vm plan without shared steps: %v", keys(points))
	}

	// The last build had no shared point: the grouping changed.
	h := func(p []Point) History { return History{Points: p} }
	if r := Explain(h(points), true, h(vm), 1); !strings.Contains(strings.Join(r, ""), "grouped differently") {
		t.Errorf("explanation against a build without the shared point: %v", r)
	}
}

// TestPointsSharedAtGroupEnd: shared steps that end where a group ends
// need no point of their own.
func TestPointsSharedAtGroupEnd(t *testing.T) {
	src := strings.Replace(pinnedRecipe, `install = ["less"]`, `install = ["linux-image-cloud-amd64", "grub-efi-amd64-signed", "shim-signed"]`, 1)
	src = strings.Replace(src, `file "/etc/motd" {`, `file "/etc/vm" {
  enabled = build.type == "vm"
  content = "vm"
}
file "/etc/motd" {`, 1) + `
output "lxd" {
  type = "split"
}
output "vm" {
  type = "vm"
}
`
	plans := loadText(t, src)
	if len(plans) != 2 || plans[0].SharedSteps != 3 {
		t.Fatalf("%d plans, shared steps %d; want 2 sharing 3", len(plans), plans[0].SharedSteps)
	}
	for _, p := range plans {
		points, err := Points(p, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(points) != 3 || points[1].Shared {
			t.Errorf("%s: %v", p.InstanceType, keys(points))
		}
	}
}
