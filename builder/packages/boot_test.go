package packages

import (
	"slices"
	"testing"
)

// TestMissingVMBoot: which package arguments provide a virtual machine's
// kernel, bootloader and shim, as apt installs them.
func TestMissingVMBoot(t *testing.T) {
	roles := func(parts []BootPart) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p.Role)
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		arch       string
		secureBoot bool
		installed  []string
		missing    []string
	}{
		{"nothing", "amd64", true, nil, []string{RoleKernel, RoleBootloader, RoleShim}},
		{"nothing, no secure boot", "amd64", false, nil, []string{RoleKernel, RoleBootloader}},
		{"debian cloud", "amd64", true, []string{"linux-image-cloud-amd64", "grub-efi-amd64-signed", "shim-signed"}, nil},
		{"arguments with arch, version, release", "amd64", true, []string{"linux-image-amd64:amd64", "grub-efi-amd64-signed=1+2.06+13", "shim-signed/bookworm"}, nil},
		{"ubuntu metapackages", "arm64", true, []string{"linux-virtual", "grub-efi-arm64-signed", "shim-signed"}, nil},
		{"hwe kernel", "amd64", false, []string{"linux-generic-hwe-24.04", "grub-efi-amd64-signed"}, nil},
		{"kvm kernel", "amd64", false, []string{"linux-kvm", "grub-efi-amd64-signed"}, nil},
		{"a debug package is no kernel", "amd64", false, []string{"linux-image-amd64-dbg", "grub-efi-amd64-signed"}, []string{RoleKernel}},
		{"headers are no kernel", "amd64", false, []string{"linux-headers-amd64", "grub-efi-amd64-signed"}, []string{RoleKernel}},
		{"the other architecture's grub", "arm64", false, []string{"linux-image-arm64", "grub-efi-amd64-signed"}, []string{RoleBootloader}},
		{"unsigned grub", "amd64", false, []string{"linux-image-amd64", "grub-efi-amd64"}, []string{RoleBootloader}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			missing, err := MissingVMBoot("apt", tc.arch, tc.secureBoot, tc.installed)
			if err != nil {
				t.Fatal(err)
			}
			if got := roles(missing); !slices.Equal(got, tc.missing) {
				t.Errorf("missing %v, want %v", got, tc.missing)
			}
		})
	}
	missing, _ := MissingVMBoot("apt", "arm64", true, nil)
	if !slices.Contains(missing[0].Install, "linux-image-cloud-arm64") || missing[1].Install[0] != "grub-efi-arm64-signed" || missing[2].Install[0] != "shim-signed" {
		t.Errorf("arm64 suggestions: %+v", missing)
	}
	if _, err := MissingVMBoot("apt", "s390x", true, nil); err == nil {
		t.Error("s390x has a boot chain")
	}
	if _, err := MissingVMBoot("dnf", "amd64", true, nil); err == nil {
		t.Error("an unknown manager has a boot chain")
	}
}
