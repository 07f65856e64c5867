package recipe

import (
	"strings"
	"testing"
)

// sharedSteps is a recipe of a container and a vm output: a run step
// both have, then one whose script says build.type, then the vm's own
// packages.
const sharedSteps = `
image {
  distribution = "debian"
  release      = "bookworm"
  architecture = "amd64"
}
environment {
  MODE = "fixed"
}
bootstrap "busybox" {}
run "common" {
  stage  = "post-bootstrap"
  script = "#!/bin/sh\ntrue\n"
}
run "typed" {
  stage  = "post-bootstrap"
  script = "#!/bin/sh\necho ${build.type}\n"
}
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

// TestMarkSharedSteps: LoadEach counts the leading steps every type's
// plan has alike: the same block evaluated to the same action. A value
// that depends on build.type ends them; so does an environment that
// does (every cache key hashes it); a recipe of one type has none.
func TestMarkSharedSteps(t *testing.T) {
	loadEach := func(src string) []*Plan {
		t.Helper()
		plans, diags := NewLoader().LoadEach(writeRecipe(t, src), Options{HostArch: "amd64"})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		return plans
	}
	for _, c := range []struct {
		name, src string
		want      int
	}{
		{"typed script", sharedSteps, 2},
		{"same scripts", strings.Replace(sharedSteps, `echo ${build.type}`, `echo same`, 1), 3},
		{"typed environment", strings.Replace(sharedSteps, `MODE = "fixed"`, `MODE = build.type`, 1), 0},
		{"one type", strings.Replace(sharedSteps, `type = "vm"`, `type = "unified"`, 1), 0},
	} {
		plans := loadEach(c.src)
		for _, p := range plans {
			if p.SharedSteps != c.want {
				t.Errorf("%s: the %s plan shares %d steps, want %d", c.name, p.InstanceType, p.SharedSteps, c.want)
			}
		}
	}
	// One evaluation alone knows of no other type.
	if p := mustLoad(t, writeRecipe(t, sharedSteps), Options{}); p.SharedSteps != 0 {
		t.Errorf("Load set SharedSteps %d", p.SharedSteps)
	}
	// The count reaches the isolated stage with the plan.
	plans := loadEach(sharedSteps)
	data, err := MarshalPlan(plans[1])
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalPlan(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.SharedSteps != 2 {
		t.Errorf("decoded plan shares %d steps, want 2", got.SharedSteps)
	}
}
