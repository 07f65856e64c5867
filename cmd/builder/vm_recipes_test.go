package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/packages"
	"github.com/builder-images/builder/builder/recipe"
	"github.com/builder-images/builder/builder/steps"
)

// vmFiles are the files a VM image gets from recipes/files/vm, where
// they go in the image.
var vmFiles = map[string]string{
	"/usr/lib/systemd/system/lxd-agent.service":   "lxd-agent.service",
	"/usr/lib/systemd/system/incus-agent.service": "incus-agent.service",
	"/usr/lib/udev/rules.d/99-lxd-agent.rules":    "99-lxd-agent.rules",
	"/usr/lib/udev/rules.d/99-incus-agent.rules":  "99-incus-agent.rules",
	"/usr/libexec/vm-agent-setup":                 "vm-agent-setup",
}

// TestShippedRecipesVMPlans checks the plans of the shipped Debian and
// Ubuntu recipes for each instance type and architecture, without
// building: the Ubuntu VM cannot be built or booted here (its archive
// is out of reach), so this is what checks it. The vm plan must
// install a kernel and the signed boot chain for the architecture, write
// the agent's files from recipes/files/vm, fstab and the enp5s0 network,
// and enable the agent and a getty on the architecture's serial console; the container plan must do
// none of that, and both share their bootstrap.
func TestShippedRecipesVMPlans(t *testing.T) {
	for _, tt := range []struct {
		recipe, kernel string // kernel: ARCH is replaced
		containerOnly  []string
	}{
		{"debian.hcl", "linux-image-cloud-ARCH", []string{`file "/etc/systemd/network/eth0.network"`, `run "configure-container"`}},
		{"ubuntu.hcl", "linux-image-virtual", []string{`file "/etc/systemd/network/10-eth0.network"`}},
	} {
		for _, arch := range []string{"amd64", "arm64"} {
			t.Run(tt.recipe+"/"+arch, func(t *testing.T) {
				path := filepath.Join("..", "..", "recipes", tt.recipe)
				plans, diags := recipe.NewLoader().LoadEach(path, recipe.Options{HostArch: "amd64", Vars: []string{"architecture=" + arch}})
				if diags.HasErrors() {
					t.Fatal(diags)
				}
				if len(plans) != 2 || plans[0].InstanceType != "container" || plans[1].InstanceType != "vm" {
					t.Fatalf("plans for %d instance types, want container then vm", len(plans))
				}
				container, vm := enabledSteps(plans[0]), enabledSteps(plans[1])
				if plans[1].Output.Type != "vm" || plans[1].Output.VM.Size != 4<<30 || !plans[1].Output.VM.SecureBoot {
					t.Errorf("vm output %+v, want a 4 GiB secure-boot disk", plans[1].Output)
				}
				if container[`bootstrap "debootstrap"`] == nil || !sameStep(container[`bootstrap "debootstrap"`], vm[`bootstrap "debootstrap"`]) {
					t.Error("the container and vm plans do not share their bootstrap step")
				}

				pkgs, ok := vm[`packages "vm"`].(*packages.Config)
				kernel := strings.ReplaceAll(tt.kernel, "ARCH", arch)
				for _, want := range []string{kernel, "shim-signed", "grub-efi-" + arch + "-signed"} {
					if !ok || !slices.Contains(pkgs.Install, want) {
						t.Errorf("the vm plan does not install %s: %+v", want, vm[`packages "vm"`])
					}
				}
				for target, source := range vmFiles {
					f, ok := vm[`file "`+target+`"`].(*steps.File)
					if !ok || filepath.Base(f.Source) != source || !strings.HasSuffix(filepath.Dir(f.Source), filepath.Join("recipes", "files", "vm")) {
						t.Errorf("the vm plan does not write %s from recipes/files/vm/%s: %+v", target, source, vm[`file "`+target+`"`])
						continue
					}
					if _, err := os.Stat(f.Source); err != nil {
						t.Error(err)
					}
					if container[`file "`+target+`"`] != nil {
						t.Errorf("the container plan writes %s", target)
					}
				}
				for _, want := range []string{"LABEL=rootfs", "LABEL=UEFI    /boot/efi"} {
					if f, ok := vm[`file "/etc/fstab"`].(*steps.File); !ok || !strings.Contains(f.Content, want) {
						t.Errorf("the vm plan's /etc/fstab lacks %q", want)
					}
				}
				enp5s0 := false
				for header, action := range vm {
					if f, ok := action.(*steps.File); ok && strings.HasPrefix(header, `file "/etc/systemd/network/`) && strings.Contains(f.Content, "Name=enp5s0") {
						enp5s0 = true
					}
				}
				if !enp5s0 {
					t.Error("the vm plan configures no network on enp5s0")
				}
				run, ok := vm[`run "configure-vm"`].(*steps.Run)
				console := map[string]string{"amd64": "ttyS0", "arm64": "ttyAMA0"}[arch]
				for _, want := range []string{"systemctl enable serial-getty@" + console + ".service", "systemctl enable lxd-agent.service incus-agent.service", "mkdir -p /boot/efi"} {
					if !ok || !strings.Contains(run.Script, want) {
						t.Errorf("the vm plan's configure-vm does not %q", want)
					}
				}
				for _, header := range []string{`packages "vm"`, `file "/etc/fstab"`, `run "configure-vm"`} {
					if container[header] != nil {
						t.Errorf("the container plan runs %s", header)
					}
				}
				for _, header := range tt.containerOnly {
					if container[header] == nil || vm[header] != nil {
						t.Errorf("%s: in the container plan %v, in the vm plan %v; want the container's only", header, container[header] != nil, vm[header] != nil)
					}
				}
			})
		}
	}
}

// enabledSteps maps the header of each enabled step (`file "/etc/x"`)
// to its action.
func enabledSteps(p *recipe.Plan) map[string]any {
	m := map[string]any{}
	for _, s := range p.Steps {
		if !s.Enabled {
			continue
		}
		header := s.Kind
		if s.Name != "" {
			header += ` "` + s.Name + `"`
		}
		m[header] = s.Action
	}
	return m
}

// sameStep: both plans have the step, with the same settings.
func sameStep(a, b any) bool { return a != nil && reflect.DeepEqual(a, b) }
