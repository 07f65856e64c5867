package packages

import (
	"fmt"
	"regexp"
	"strings"
)

// Boot roles: the parts of a virtual machine's UEFI boot chain that an
// image's packages provide.
const (
	RoleKernel     = "kernel"
	RoleBootloader = "bootloader"
	RoleShim       = "shim"
)

// BootPart is one part of a virtual machine's boot chain, as a package
// manager names the packages that provide it.
type BootPart struct {
	// Role is RoleKernel, RoleBootloader or RoleShim.
	Role string
	// Install names packages that provide it, the usual ones first, for
	// a message saying what to install.
	Install []string
	// provides reports whether a package (its bare name) provides it.
	provides func(name string) bool
}

// MissingVMBoot returns the parts of a virtual machine's boot chain for
// the (Debian-spelt) architecture that none of the packages installed
// with manager provides: the kernel, the bootloader and, with secure
// boot, the signed shim. Package arguments may carry :arch, =version or
// /release. An architecture without a known boot chain is an error.
func MissingVMBoot(manager, arch string, secureBoot bool, installed []string) ([]BootPart, error) {
	kind, err := lookup(manager)
	if err != nil {
		return nil, err
	}
	if kind.VMBoot == nil {
		return nil, fmt.Errorf("builder does not know how %s installs a virtual machine's kernel and bootloader", manager)
	}
	parts, err := kind.VMBoot(arch, secureBoot)
	if err != nil {
		return nil, err
	}
	var missing []BootPart
	for _, part := range parts {
		found := false
		for _, pkg := range installed {
			if part.provides(bareName(pkg)) {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, part)
		}
	}
	return missing, nil
}

// bareName is a package argument without :arch, =version or /release.
func bareName(arg string) string {
	if i := strings.IndexAny(arg, ":=/"); i >= 0 {
		return arg[:i]
	}
	return arg
}

// aptKernelMeta are the kernel packages of Debian and Ubuntu that are
// not linux-image-*: Ubuntu's metapackages, with their hwe variants.
var aptKernelMeta = regexp.MustCompile(`^linux-(generic|virtual|kvm|lowlatency)(-hwe-[0-9.]+(-edge)?)?$`)

// aptEFIArch maps the architectures apt's images boot as virtual
// machines to the name their signed grub package carries.
var aptEFIArch = map[string]string{"amd64": "amd64", "arm64": "arm64"}

// aptVMBoot is the boot chain of a Debian or Ubuntu virtual machine: a
// kernel, grub signed for EFI and, for secure boot, the shim Microsoft
// signed, which loads it.
func aptVMBoot(arch string, secureBoot bool) ([]BootPart, error) {
	efi, ok := aptEFIArch[arch]
	if !ok {
		return nil, fmt.Errorf("virtual machine images are built for amd64 and arm64, not %s", arch)
	}
	grub := "grub-efi-" + efi + "-signed"
	parts := []BootPart{
		{Role: RoleKernel, Install: []string{"linux-image-cloud-" + arch, "linux-image-" + arch, "linux-virtual", "linux-generic"},
			provides: func(name string) bool {
				if strings.HasSuffix(name, "-dbg") || strings.HasSuffix(name, "-dbgsym") {
					return false
				}
				return strings.HasPrefix(name, "linux-image-") || aptKernelMeta.MatchString(name)
			}},
		{Role: RoleBootloader, Install: []string{grub}, provides: func(name string) bool { return name == grub }},
	}
	if secureBoot {
		parts = append(parts, BootPart{Role: RoleShim, Install: []string{"shim-signed"}, provides: func(name string) bool { return name == "shim-signed" }})
	}
	return parts, nil
}
