package qemu

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/imagetest"
)

// fakeVMImage is an output directory with a VM image's files (the disk
// is not a disk: nothing boots it here) and firmware stand-ins.
func fakeVMImage(t *testing.T) (img *imagetest.Image, firmware string) {
	t.Helper()
	dir := t.TempDir()
	entries := map[string]string{"metadata.yaml": testMetadata}
	for k, v := range testTemplates {
		entries[k] = v
	}
	writeTarball(t, filepath.Join(dir, "lxd.tar.gz"), entries)
	if err := os.WriteFile(filepath.Join(dir, "disk.qcow2"), []byte("not a disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	firmware = t.TempDir()
	for _, f := range []string{"OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"} {
		if err := os.WriteFile(filepath.Join(firmware, f), []byte("firmware"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	j := image.ImageJSON{Fingerprint: strings.Repeat("b", 64), Type: image.TypeVM, Architecture: "x86_64", Disk: &image.Disk{}, Files: []image.FileInfo{
		{Name: "lxd.tar.gz", Role: image.RoleMetadata}, {Name: "disk.qcow2", Role: image.RoleDisk},
	}}
	return &imagetest.Image{Dir: dir, JSON: j}, firmware
}

// TestBackendLifecycle: what the backend refuses, its properties, and
// a Cleanup that removes its directory and may run again.
func TestBackendLifecycle(t *testing.T) {
	ctx := context.Background()
	img, fw := fakeVMImage(t)
	b := New(Options{TempDir: t.TempDir(), FirmwareDir: fw, Accel: "tcg"})
	vm := imagetest.LaunchSpec{Name: "builder-test-vm-000000", Config: imagetest.Configuration{Name: "vm", InstanceType: image.InstanceVM}}
	if _, err := b.Launch(ctx, vm); err == nil {
		t.Error("Launch before Prepare")
	}
	container := &imagetest.Image{Dir: img.Dir, JSON: image.ImageJSON{Type: image.TypeSplit}}
	if err := b.Prepare(ctx, container); err == nil || !strings.Contains(err.Error(), "qemu boots VM images") {
		t.Errorf("Prepare of a container image: %v", err)
	}
	arm := &imagetest.Image{Dir: img.Dir, JSON: img.JSON}
	arm.JSON.Architecture = "aarch64"
	if err := b.Prepare(ctx, arm); err == nil || !strings.Contains(err.Error(), "boots x86_64 VM images") {
		t.Errorf("Prepare of an aarch64 image: %v", err)
	}
	if runtime.GOARCH != "amd64" {
		return
	}
	if err := b.Prepare(ctx, img); err != nil {
		t.Fatal(err)
	}
	if b.Name() != "qemu" || b.Accel() != "tcg" {
		t.Errorf("name %q, accelerator %q", b.Name(), b.Accel())
	}
	props, err := b.Properties(ctx)
	if err != nil || props["os"] != "debian" || props["variant"] != "cloud" {
		t.Errorf("properties %v, %v: want metadata.yaml's", props, err)
	}
	spec := vm
	spec.Config = imagetest.Configuration{Name: "unprivileged", InstanceType: image.InstanceContainer}
	if _, err := b.Launch(ctx, spec); err == nil || !strings.Contains(err.Error(), "qemu runs VMs only") {
		t.Errorf("Launch of a container configuration: %v", err)
	}
	dir := b.dir
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	if kept := b.Kept(); len(kept) != 0 {
		t.Errorf("kept with no instance: %q", kept)
	}
	for range 2 {
		if err := b.Cleanup(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Cleanup left %s: %v", dir, err)
	}
	if _, err := b.Launch(ctx, vm); err == nil {
		t.Error("Launch after Cleanup")
	}
}
