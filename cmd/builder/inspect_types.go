package main

import (
	"fmt"
	"strings"

	"github.com/builder-images/builder/builder/recipe"
)

// What inspect shows of the instance types: a recipe evaluated for each
// (recipe.Loader.LoadEach) is shown as one view, with the blocks and
// locals that differ between the types marked.

type inspectVM struct {
	Size       int64  `json:"size"`
	Filesystem string `json:"filesystem"`
	SecureBoot bool   `json:"secure_boot"`
	Format     string `json:"format"`
	Unified    bool   `json:"unified"`
}

func newInspectOutput(o recipe.Output) inspectOutput {
	v := inspectOutput{Name: o.Name, Type: o.Type, InstanceType: o.InstanceType(), Compression: o.Compression.String(), Rootfs: o.RootfsFormat}
	if o.Type == recipe.OutputVM {
		v.VM = &inspectVM{Size: o.VM.Size, Filesystem: o.VM.Filesystem, SecureBoot: o.VM.SecureBoot, Format: o.VM.Format, Unified: o.VM.Unified}
	}
	if o.Range.Filename != "" {
		v.Position = position(o.Range)
	}
	return v
}

// inspectTest is a test block: the script builder test runs in the
// booted image.
type inspectTest struct {
	Name    string   `json:"name"`
	Script  string   `json:"script"`
	On      []string `json:"on"`
	Timeout string   `json:"timeout"`
	Enabled bool     `json:"enabled"`
	// InstanceTypes are those the test is enabled for.
	InstanceTypes []string `json:"instance_types"`
	Position      string   `json:"position"`
}

// testViews lists the test blocks, each as the first plan it is
// enabled in decoded it.
func testViews(plans []*recipe.Plan) []inspectTest {
	out := []inspectTest{}
	for i, t := range plans[0].Tests {
		types, shown := enabledFor(plans, func(plan *recipe.Plan) (bool, bool) {
			return i < len(plan.Tests) && plan.Tests[i].Range == t.Range, i < len(plan.Tests) && plan.Tests[i].Enabled
		})
		if shown != nil {
			t = shown.Tests[i]
		}
		m := masker(t.Sensitive)
		out = append(out, inspectTest{
			Name: t.Name, Script: m.text("script", t.Script), On: t.On, Timeout: recipe.FormatDuration(t.Timeout),
			Enabled: len(types) > 0, InstanceTypes: types, Position: position(t.Range),
		})
	}
	return out
}

// enabledFor lists the instance types a block is enabled for, and the
// first plan it is enabled in (nil when none). match reports whether a
// plan holds the block at the same index (every plan decodes every
// block, so they do) and whether it is enabled there.
func enabledFor(plans []*recipe.Plan, match func(*recipe.Plan) (same, enabled bool)) ([]string, *recipe.Plan) {
	types := []string{}
	var first *recipe.Plan
	for _, plan := range plans {
		if same, enabled := match(plan); same && enabled {
			types = append(types, plan.InstanceType)
			if first == nil {
				first = plan
			}
		}
	}
	return types, first
}

// localViews lists the locals: once when every plan gives a local the
// same value, else once per instance type.
func localViews(plans []*recipe.Plan) ([]inspectValue, error) {
	out := []inspectValue{}
	for i, l := range plans[0].Locals {
		var each []inspectValue
		same := true
		for _, plan := range plans {
			pl := l
			if i < len(plan.Locals) && plan.Locals[i].Name == l.Name {
				pl = plan.Locals[i]
			}
			iv, err := valueView(pl.Name, pl.Value, pl.Sensitive, pl.Range)
			if err != nil {
				return nil, err
			}
			iv.InstanceType = plan.InstanceType
			if len(each) > 0 && (string(iv.Value) != string(each[0].Value) || iv.Sensitive != each[0].Sensitive) {
				same = false
			}
			each = append(each, iv)
		}
		if same {
			each[0].InstanceType = ""
			each = each[:1]
		}
		out = append(out, each...)
	}
	return out, nil
}

// state is "enabled" for a block enabled for every instance type,
// "disabled" for none, and names the types otherwise: "enabled [vm]".
func (v *inspectView) state(types []string) string {
	switch len(types) {
	case 0:
		return "disabled"
	case len(v.InstanceTypes):
		return "enabled"
	}
	return "enabled " + typeMarker(strings.Join(types, ","))
}

func typeMarker(instanceType string) string {
	if instanceType == "" {
		return ""
	}
	return "[" + instanceType + "]"
}

// settings are an output's settings in a line: "split, xz-6, rootfs
// squashfs" or "vm, xz-6, disk 4GiB ext4 qcow2, secure boot" (", unified"
// for the one-tarball form).
func (o inspectOutput) settings() string {
	if o.VM == nil {
		return fmt.Sprintf("%s, %s, rootfs %s", o.Type, o.Compression, o.Rootfs)
	}
	boot := "secure boot"
	if !o.VM.SecureBoot {
		boot = "no secure boot"
	}
	if o.VM.Unified {
		boot += ", unified"
	}
	return fmt.Sprintf("%s, %s, disk %s %s %s, %s", o.Type, o.Compression, sizeText(o.VM.Size), o.VM.Filesystem, o.VM.Format, boot)
}

// sizeText writes a disk size (whole MiB) as the recipe would: "4GiB".
func sizeText(n int64) string {
	if n%(1<<30) == 0 {
		return fmt.Sprintf("%dGiB", n>>30)
	}
	return fmt.Sprintf("%dMiB", n>>20)
}
