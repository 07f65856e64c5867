package recipe

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/hashicorp/hcl/v2"

	"github.com/builder-images/builder/builder/pack"
)

// Output types, rootfs formats and instance types.
const (
	OutputSplit    = "split"
	OutputUnified  = "unified"
	OutputVM       = "vm"
	RootfsSquashfs = "squashfs"
	RootfsTar      = "tar"

	// InstanceContainer and InstanceVM are the values of build.type: the
	// kind of instance an output's image is for.
	InstanceContainer = "container"
	InstanceVM        = "vm"
)

// VM disk settings: the defaults, the one filesystem and the one format
// builder writes, and the smallest disk it makes.
const (
	DefaultVMSize  = 4 << 30
	MinVMSize      = 512 << 20
	FilesystemExt4 = "ext4"
	DiskQcow2      = "qcow2"
)

// Output holds one `output` block: what one image of the recipe is
// packed as.
type Output struct {
	// Name is the block's label; "" for an unlabelled output block (or
	// the default output of a recipe without one).
	Name string
	// Type is "split", "unified" or "vm".
	Type string
	// Compression is the tarballs' compression: for vm, that of the
	// metadata tarball, or of the one tarball with VM.Unified.
	Compression pack.Compression
	// RootfsFormat is "squashfs" or "tar" for split and unified (unified
	// images are always tar); "" for vm.
	RootfsFormat string
	// VM holds the disk settings of a vm output; zero otherwise.
	VM    VMSettings
	Range hcl.Range
}

// VMSettings are the disk settings of a vm output.
type VMSettings struct {
	// Size is the disk's size in bytes.
	Size int64 `json:"size"`
	// Filesystem is the root partition's: "ext4".
	Filesystem string `json:"filesystem"`
	// SecureBoot installs the signed shim and grub, so the image boots
	// with secure boot enforced.
	SecureBoot bool `json:"secure_boot"`
	// Format is the disk image's format: "qcow2".
	Format string `json:"format"`
	// Unified packs the image as one tarball holding the metadata and
	// the disk as rootfs.img, instead of the metadata tarball beside
	// the disk file (the form image servers publish).
	Unified bool `json:"unified,omitempty"`
}

// DefaultVMSettings are the settings of a vm output that sets none.
func DefaultVMSettings() VMSettings {
	return VMSettings{Size: DefaultVMSize, Filesystem: FilesystemExt4, SecureBoot: true, Format: DiskQcow2}
}

// InstanceType is the build.type an output's image is built with:
// "vm" for a vm output, "container" for split and unified.
func (out Output) InstanceType() string {
	if out.Type == OutputVM {
		return InstanceVM
	}
	return InstanceContainer
}

// OutputSettings are output settings as text, from an output block or
// from pack and build's flags; nil is a setting not given. Size is a
// size such as "4GiB" or a number of bytes.
type OutputSettings struct {
	Type, Compression, RootfsFormat *string
	Size, Filesystem, Format        *string
	SecureBoot, Unified             *bool
}

// OutputProblem names the output rule a setting breaks.
type OutputProblem int

const (
	// InvalidOutputType: the type is not split, unified or vm.
	InvalidOutputType OutputProblem = iota + 1
	// InvalidCompression: the compression does not parse.
	InvalidCompression
	// InvalidRootfsFormat: the rootfs format is not squashfs or tar.
	InvalidRootfsFormat
	// UnifiedSquashfs: a unified image holds its rootfs as tar entries.
	UnifiedSquashfs
	// RootfsOnVM: a vm image's rootfs is its disk, not a rootfs file.
	RootfsOnVM
	// VMSettingOnContainer: a disk setting (Setting names it) on a split
	// or unified output.
	VMSettingOnContainer
	// InvalidVMSize: the size does not parse, is below MinVMSize or is
	// not a whole number of MiB.
	InvalidVMSize
	// InvalidFilesystem: the filesystem is not ext4; Err is
	// ErrNotSupportedYet for btrfs.
	InvalidFilesystem
	// InvalidDiskFormat: the disk format is not qcow2.
	InvalidDiskFormat
)

// ErrNotSupportedYet marks a setting builder knows but cannot build yet.
var ErrNotSupportedYet = errors.New("not supported yet")

// OutputError is one broken output rule. The recipe decoder and the
// flags phrase it in their own words, so it carries what they need.
type OutputError struct {
	Problem OutputProblem
	// Setting names the setting refused as the output block spells it
	// ("type", "rootfs", "size", "secure_boot", …).
	Setting string
	// Value is the setting refused; Err the parser's reason.
	Value string
	Err   error
}

func (e *OutputError) Error() string {
	switch e.Problem {
	case InvalidOutputType:
		return fmt.Sprintf("invalid output type %q", e.Value)
	case InvalidCompression:
		return fmt.Sprintf("invalid compression %q: %v", e.Value, e.Err)
	case InvalidRootfsFormat:
		return fmt.Sprintf("invalid rootfs format %q", e.Value)
	case RootfsOnVM:
		return "a vm image has a disk, not a rootfs file: rootfs is for split and unified images"
	case VMSettingOnContainer:
		return fmt.Sprintf("%s is a setting of vm images only", e.Setting)
	case InvalidVMSize:
		return fmt.Sprintf("invalid disk size %q: %v", e.Value, e.Err)
	case InvalidFilesystem:
		if errors.Is(e.Err, ErrNotSupportedYet) {
			return fmt.Sprintf("filesystem %q is not supported yet; use %q", e.Value, FilesystemExt4)
		}
		return fmt.Sprintf("invalid filesystem %q", e.Value)
	case InvalidDiskFormat:
		return fmt.Sprintf("invalid disk format %q", e.Value)
	}
	return "a unified image cannot hold a squashfs rootfs"
}

func (e *OutputError) Unwrap() error { return e.Err }

// DefaultOutput is what a recipe without an output block builds: a split
// image, xz, with a squashfs rootfs.
func DefaultOutput() Output {
	xz, _ := pack.ParseCompression("xz")
	return Output{Type: OutputSplit, Compression: xz, RootfsFormat: RootfsSquashfs}
}

// Merge is the one place the output rules live: it returns out with the
// given settings applied, and every rule they break, in the order type,
// compression, rootfs format, combination, disk settings. A changed type
// takes that type's defaults for what is not given: squashfs for split,
// tar (the only one) for unified, no rootfs format and
// DefaultVMSettings for vm. A refused setting leaves its field as it was.
func (out Output) Merge(s OutputSettings) (Output, []*OutputError) {
	var problems []*OutputError
	problem := func(p OutputProblem, setting, value string, err error) {
		problems = append(problems, &OutputError{Problem: p, Setting: setting, Value: value, Err: err})
	}
	typeRefused := false
	if s.Type != nil {
		switch typ := *s.Type; {
		case typ != OutputSplit && typ != OutputUnified && typ != OutputVM:
			problem(InvalidOutputType, "type", typ, nil)
			typeRefused = true
		case typ != out.Type:
			if s.RootfsFormat == nil || typ == OutputVM {
				out.RootfsFormat = defaultRootfsFormat(typ)
			}
			out.VM = VMSettings{}
			if typ == OutputVM {
				out.VM = DefaultVMSettings()
			}
			out.Type = typ
		}
	}
	if s.Compression != nil {
		c, err := pack.ParseCompression(*s.Compression)
		if err != nil {
			problem(InvalidCompression, "compression", *s.Compression, err)
		} else {
			out.Compression = c
		}
	}
	rootfsRefused := false
	if s.RootfsFormat != nil {
		switch f := *s.RootfsFormat; {
		case out.Type == OutputVM:
			problem(RootfsOnVM, "rootfs", f, nil)
			rootfsRefused = true
		case f != RootfsSquashfs && f != RootfsTar:
			problem(InvalidRootfsFormat, "rootfs", f, nil)
			rootfsRefused = true
		default:
			out.RootfsFormat = f
		}
	}
	// A refused format is reported once, not again as a combination.
	if !rootfsRefused && out.Type == OutputUnified && out.RootfsFormat == RootfsSquashfs {
		problem(UnifiedSquashfs, "rootfs", out.RootfsFormat, nil)
	}
	// Disk settings with a refused type are not reported again: the type
	// is the mistake.
	if typeRefused {
		s.Size, s.Filesystem, s.SecureBoot, s.Format, s.Unified = nil, nil, nil, nil, nil
	}
	out.VM, problems = mergeVM(out, s, problems)
	return out, problems
}

// mergeVM applies the disk settings: to a vm output's VM, and to any
// other output as a problem each.
func mergeVM(out Output, s OutputSettings, problems []*OutputError) (VMSettings, []*OutputError) {
	vm := out.VM
	problem := func(p OutputProblem, setting, value string, err error) {
		problems = append(problems, &OutputError{Problem: p, Setting: setting, Value: value, Err: err})
	}
	if out.Type != OutputVM {
		for _, given := range []struct {
			setting string
			value   *string
		}{{"size", s.Size}, {"filesystem", s.Filesystem}, {"secure_boot", boolText(s.SecureBoot)}, {"format", s.Format}, {"unified", boolText(s.Unified)}} {
			if given.value != nil {
				problem(VMSettingOnContainer, given.setting, *given.value, nil)
			}
		}
		return vm, problems
	}
	if s.Size != nil {
		if n, err := parseVMSize(*s.Size); err != nil {
			problem(InvalidVMSize, "size", *s.Size, err)
		} else {
			vm.Size = n
		}
	}
	if s.Filesystem != nil {
		switch fs := *s.Filesystem; fs {
		case FilesystemExt4:
			vm.Filesystem = fs
		case "btrfs":
			problem(InvalidFilesystem, "filesystem", fs, ErrNotSupportedYet)
		default:
			problem(InvalidFilesystem, "filesystem", fs, nil)
		}
	}
	if s.SecureBoot != nil {
		vm.SecureBoot = *s.SecureBoot
	}
	if s.Unified != nil {
		vm.Unified = *s.Unified
	}
	if s.Format != nil {
		if f := *s.Format; f != DiskQcow2 {
			problem(InvalidDiskFormat, "format", f, nil)
		} else {
			vm.Format = f
		}
	}
	return vm, problems
}

func boolText(b *bool) *string {
	if b == nil {
		return nil
	}
	s := strconv.FormatBool(*b)
	return &s
}

// parseVMSize reads a disk size as parseSize does and keeps it to whole
// MiB, at least MinVMSize: the partitions are aligned to 1 MiB, and a
// smaller disk holds no useful system.
func parseVMSize(s string) (int64, error) {
	n, err := parseSize(s)
	switch {
	case err != nil:
		return 0, err
	case n < MinVMSize:
		return 0, fmt.Errorf("%d bytes is smaller than the smallest disk, 512MiB", n)
	case n%(1<<20) != 0:
		return 0, fmt.Errorf("%d bytes is not a whole number of MiB", n)
	}
	return n, nil
}

// defaultRootfsFormat is the rootfs format a type takes when none is given.
func defaultRootfsFormat(typ string) string {
	switch typ {
	case OutputUnified:
		return RootfsTar
	case OutputVM:
		return ""
	}
	return RootfsSquashfs
}
