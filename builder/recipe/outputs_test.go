package recipe

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/packages"
	"github.com/builder-images/builder/builder/steps"
)

// twoTypes is a recipe with a container and a vm output, steps and a
// local that depend on build.type, and a vm-only step with a mistake.
const twoTypes = `
locals {
  kind = "built for ${build.type}"
}

image {
  distribution = "debian"
  release      = "bookworm"
  architecture = "amd64"
}

bootstrap "busybox" {}

output "ctr" {
  type        = "unified"
  compression = "zstd"
}

output "disk" {
  type        = "vm"
  size        = "8G"
  secure_boot = false
}

output "disk2" {
  type = "vm"
}

packages "vm" {
  enabled = build.type == "vm"
  install = ["linux-image-cloud-amd64", "grub-efi-amd64-signed", "shim-signed"]
}

file "/etc/kind" {
  content = local.kind
}

file "/etc/container-only" {
  enabled = build.type == "container"
  content = "x"
}

file "/etc/vm-only" {
  enabled = build.type == "vm"
  content = "x"
  mode    = build.type == "vm" ? "0999" : "0644"
}
`

func writeRecipe(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "r.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func enabledFiles(p *Plan) map[string]string {
	out := map[string]string{}
	for _, s := range p.EnabledSteps() {
		if f, ok := s.Action.(*steps.File); ok {
			out[f.Path] = f.Content
		}
	}
	return out
}

// TestOutputsAndBuildType: every output block is decoded, the plan's
// Output is the first for its instance type, and build.type reaches
// locals and enabled.
func TestOutputsAndBuildType(t *testing.T) {
	path := writeRecipe(t, strings.Replace(twoTypes, `"0999"`, `"0644"`, 1))
	ctr := mustLoad(t, path, Options{})
	if ctr.InstanceType != InstanceContainer {
		t.Errorf("default instance type = %q, want the first output's, container", ctr.InstanceType)
	}
	if len(ctr.Outputs) != 3 {
		t.Fatalf("got %d outputs, want 3", len(ctr.Outputs))
	}
	wantVM := VMSettings{Size: 8 << 30, Filesystem: "ext4", SecureBoot: false, Format: "qcow2"}
	if o := ctr.Outputs[1]; o.Name != "disk" || o.Type != OutputVM || o.VM != wantVM || o.RootfsFormat != "" || o.InstanceType() != InstanceVM {
		t.Errorf("output disk = %+v, want vm with %+v", o, wantVM)
	}
	if o := ctr.Outputs[2]; o.VM != DefaultVMSettings() || o.VM.Size != 4<<30 || !o.VM.SecureBoot {
		t.Errorf("output disk2 settings = %+v, want the defaults", o.VM)
	}
	if o := ctr.Output; o.Name != "ctr" || o.Type != OutputUnified || o.RootfsFormat != RootfsTar || o.Compression.String() != "zstd-3" {
		t.Errorf("container plan's output = %+v, want ctr", o)
	}
	if got, want := enabledFiles(ctr), map[string]string{"/etc/kind": "built for container", "/etc/container-only": "x"}; !reflect.DeepEqual(got, want) {
		t.Errorf("container files = %v, want %v", got, want)
	}

	vm := mustLoad(t, path, Options{InstanceType: InstanceVM})
	if vm.InstanceType != InstanceVM || vm.Output.Name != "disk" {
		t.Errorf("vm plan: instance type %q, output %q; want vm, disk", vm.InstanceType, vm.Output.Name)
	}
	if got, want := enabledFiles(vm), map[string]string{"/etc/kind": "built for vm", "/etc/vm-only": "x"}; !reflect.DeepEqual(got, want) {
		t.Errorf("vm files = %v, want %v", got, want)
	}
	var kernel bool
	for _, s := range vm.EnabledSteps() {
		if p, ok := s.Action.(*packages.Config); ok && len(p.Install) > 0 && p.Install[0] == "linux-image-cloud-amd64" {
			kernel = true
		}
	}
	if !kernel {
		t.Error("the vm plan lacks its vm-only packages step")
	}
}

// TestLoadEach: one plan per instance type in order of first appearance;
// a problem of every evaluation is reported once, one of the vm
// evaluation only once and saying so.
func TestLoadEach(t *testing.T) {
	src := strings.Replace(twoTypes, `output "ctr"`, `output "disk0" {
  type = "vm"
}

output "ctr"`, 1)
	src = strings.Replace(src, `content = local.kind`, `content = local.kind
  owner   = "Bad Owner"`, 1)
	l := NewLoader()
	plans, diags := l.LoadEach(writeRecipe(t, src), Options{HostArch: "amd64", InstanceType: InstanceContainer})
	if len(plans) != 2 || plans[0].InstanceType != InstanceVM || plans[1].InstanceType != InstanceContainer {
		t.Fatalf("got %d plans %v, want vm then container", len(plans), plans)
	}
	if plans[0].Output.Name != "disk0" || plans[1].Output.Name != "ctr" {
		t.Errorf("outputs %q, %q; want disk0, ctr", plans[0].Output.Name, plans[1].Output.Name)
	}
	var got []string
	for _, d := range diags {
		got = append(got, d.Summary+": "+d.Detail)
	}
	if len(diags) != 2 {
		t.Fatalf("got %d diagnostics, want 2:\n%s", len(diags), strings.Join(got, "\n"))
	}
	if !strings.Contains(got[0], "Invalid owner") || strings.Contains(got[0], "build.type") {
		t.Errorf("diagnostic 1 = %q, want the owner error, for every type", got[0])
	}
	if !strings.HasPrefix(got[1], "Invalid mode") || !strings.HasSuffix(got[1], `(With build.type = "vm".)`) {
		t.Errorf("diagnostic 2 = %q, want the mode error, for vm only", got[1])
	}
	if diags[0].Subject == nil || diags[0].Subject.Start.Line >= diags[1].Subject.Start.Line {
		t.Error("diagnostics are not in position order")
	}

	// A recipe of one unnamed output: one plan, as Load gives.
	one := writeRecipe(t, "image {\n  distribution = \"d\"\n  release = \"r\"\n}\nbootstrap \"busybox\" {}\n")
	plans, diags = NewLoader().LoadEach(one, Options{HostArch: "amd64"})
	if diags.HasErrors() || len(plans) != 1 || plans[0].InstanceType != InstanceContainer || len(plans[0].Outputs) != 1 ||
		plans[0].Output.Name != "" || plans[0].Output.Type != OutputSplit || plans[0].Output.RootfsFormat != RootfsSquashfs {
		t.Errorf("a recipe without outputs: %d plans, %v; want one split container plan", len(plans), diags)
	}
}

// TestInstanceTypeWithoutOutput: evaluating for an instance type no
// output builds, or for one that does not exist, is an error.
func TestInstanceTypeWithoutOutput(t *testing.T) {
	path := writeRecipe(t, "image {\n  distribution = \"d\"\n  release = \"r\"\n}\nbootstrap \"busybox\" {}\n")
	for _, tc := range []struct{ asked, summary, detail string }{
		{InstanceVM, "No output for this instance type", `add an output block with type = "vm"`},
		{"lxc", "Invalid instance type", `build.type is "container" or "vm", not "lxc".`},
	} {
		_, diags := NewLoader().Load(path, Options{HostArch: "amd64", InstanceType: tc.asked})
		if len(diags) != 1 || diags[0].Summary != tc.summary || !strings.Contains(diags[0].Detail, tc.detail) {
			t.Errorf("InstanceType %q: got %v, want %s: …%s", tc.asked, diags, tc.summary, tc.detail)
		}
	}
}

// TestPlanCodecOutputs: the instance type, the outputs and the output
// being built (with what flags merged into it) reach the child.
func TestPlanCodecOutputs(t *testing.T) {
	plan := mustLoad(t, writeRecipe(t, strings.Replace(twoTypes, `"0999"`, `"0644"`, 1)), Options{InstanceType: InstanceVM})
	xz9 := "xz-9"
	merged, problems := plan.Output.Merge(OutputSettings{Compression: &xz9})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	plan.Output = merged
	data, err := MarshalPlan(plan)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalPlan(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.InstanceType != InstanceVM {
		t.Errorf("instance type = %q, want vm", got.InstanceType)
	}
	if !reflect.DeepEqual(got.Outputs, plan.Outputs) {
		t.Errorf("outputs:\ngot  %+v\nwant %+v", got.Outputs, plan.Outputs)
	}
	if !reflect.DeepEqual(got.Output, plan.Output) || got.Output.Compression.String() != "xz-9" || got.Output.VM.Size != 8<<30 {
		t.Errorf("output:\ngot  %+v\nwant %+v", got.Output, plan.Output)
	}
	if _, err := UnmarshalPlan([]byte(`{"steps":[],"outputs":[{"type":"split","compression":"lzma"}]}`)); err == nil {
		t.Error("an output with a compression that does not parse was decoded")
	}
}
