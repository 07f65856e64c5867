package recipe

import (
	"reflect"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
)

// TestTestBlocks decodes test blocks: the defaults (both instance
// types, five minutes), on and timeout as written, enabled from
// build.type, and what packing records for each instance type.
func TestTestBlocks(t *testing.T) {
	src := `image {
  distribution = "d"
  release      = "r"
  architecture = "amd64"
}
bootstrap "busybox" {}
output "ctr" { type = "split" }
output "disk" { type = "vm" }

test "motd" {
  script = "grep -q busybox /etc/motd"
}

test "kernel" {
  on      = ["vm"]
  timeout = "90s"
  script  = <<-EOT
    #!/bin/sh
    test -d /sys/firmware/efi
  EOT
}

test "either" {
  on      = ["vm", "container", "vm"]
  timeout = "1m 30s"
  script  = "true"
}

test "ctr-only" {
  enabled = build.type == "container"
  script  = "true"
}

packages "vm" {
  enabled = build.type == "vm"
  install = ["linux-image-amd64", "grub-efi-amd64-signed", "shim-signed"]
}
`
	path := writeRecipe(t, src)
	ctr := mustLoad(t, path, Options{InstanceType: InstanceContainer})
	if len(ctr.Tests) != 4 {
		t.Fatalf("%d tests, want 4", len(ctr.Tests))
	}
	motd := ctr.Tests[0]
	if motd.Name != "motd" || !reflect.DeepEqual(motd.On, []string{"container", "vm"}) || motd.Timeout != DefaultTestTimeout || !motd.Enabled {
		t.Errorf("test motd = %+v, want both types, the default timeout, enabled", motd)
	}
	if motd.Range.Filename != path || motd.Range.Start.Line != 10 {
		t.Errorf("test motd at %s, want %s:10", motd.Range, path)
	}
	kernel := ctr.Tests[1]
	if kernel.Script != "#!/bin/sh\ntest -d /sys/firmware/efi\n" || kernel.Timeout != 90*time.Second || !reflect.DeepEqual(kernel.On, []string{"vm"}) {
		t.Errorf("test kernel = %+v", kernel)
	}
	if on := ctr.Tests[2].On; !reflect.DeepEqual(on, []string{"container", "vm"}) {
		t.Errorf("on written vm, container, vm is %v, want container, vm", on)
	}

	want := []image.Test{
		{Name: "motd", Script: "grep -q busybox /etc/motd", On: []string{"container", "vm"}, Timeout: 300, File: path, Line: 10},
		{Name: "either", Script: "true", On: []string{"container", "vm"}, Timeout: 90, File: path, Line: 23},
		{Name: "ctr-only", Script: "true", On: []string{"container", "vm"}, Timeout: 300, File: path, Line: 29},
	}
	if got := ctr.ImageTests(image.InstanceContainer); !reflect.DeepEqual(got, want) {
		t.Errorf("container image's tests:\n%+v\nwant\n%+v", got, want)
	}

	vm := mustLoad(t, path, Options{InstanceType: InstanceVM})
	if vm.Tests[3].Enabled {
		t.Error("test ctr-only is enabled for vm")
	}
	got := vm.ImageTests(image.InstanceVM)
	var names []string
	for _, it := range got {
		names = append(names, it.Name)
	}
	if !reflect.DeepEqual(names, []string{"motd", "kernel", "either"}) {
		t.Errorf("vm image's tests are %v, want motd, kernel, either", names)
	}
	if got[1].Timeout != 90 || got[1].Line != 14 {
		t.Errorf("test kernel in image.json = %+v, want timeout 90, line 14", got[1])
	}
}

// TestTestTimeoutRoundsUp: image.json holds whole seconds, and a test
// must never get less time than the recipe gave it.
func TestTestTimeoutRoundsUp(t *testing.T) {
	tb := TestBlock{Name: "x", Script: "true", On: []string{"vm"}, Timeout: 1500 * time.Millisecond}
	if got := tb.Image().Timeout; got != 2 {
		t.Errorf("1.5s recorded as %d seconds, want 2", got)
	}
}

// TestNoTestBlocks: a recipe without tests packs no tests, so
// image.json keeps its shape.
func TestNoTestBlocks(t *testing.T) {
	plan := mustLoad(t, writeRecipe(t, "image {\n  distribution = \"d\"\n  release = \"r\"\n}\nbootstrap \"busybox\" {}\n"), Options{})
	if got := plan.ImageTests(image.InstanceContainer); got != nil {
		t.Errorf("tests %+v, want none", got)
	}
}
