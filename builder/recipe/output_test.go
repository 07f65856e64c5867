package recipe

import (
	"testing"
)

// The output rules, as both the output block and pack/build's flags
// apply them.
func TestOutputMerge(t *testing.T) {
	str := func(s string) *string { return &s }
	unified := DefaultOutput()
	unified.Type, unified.RootfsFormat = OutputUnified, RootfsTar
	for _, tc := range []struct {
		name       string
		base       Output
		settings   OutputSettings
		typ        string
		rootfs     string
		compressed string
		problems   []OutputProblem
	}{
		{"nothing given", DefaultOutput(), OutputSettings{}, OutputSplit, RootfsSquashfs, "xz-6", nil},
		{"unified takes tar", DefaultOutput(), OutputSettings{Type: str("unified")}, OutputUnified, RootfsTar, "xz-6", nil},
		{"split takes squashfs", unified, OutputSettings{Type: str("split")}, OutputSplit, RootfsSquashfs, "xz-6", nil},
		{"the same type keeps the format", unified, OutputSettings{Type: str("unified")}, OutputUnified, RootfsTar, "xz-6", nil},
		{"split with tar", DefaultOutput(), OutputSettings{Type: str("split"), RootfsFormat: str("tar")}, OutputSplit, RootfsTar, "xz-6", nil},
		{"compression", DefaultOutput(), OutputSettings{Compression: str("zstd-3")}, OutputSplit, RootfsSquashfs, "zstd-3", nil},
		{"unified squashfs", DefaultOutput(), OutputSettings{Type: str("unified"), RootfsFormat: str("squashfs")}, OutputUnified, RootfsSquashfs, "xz-6", []OutputProblem{UnifiedSquashfs}},
		{"squashfs on a unified base", unified, OutputSettings{RootfsFormat: str("squashfs")}, OutputUnified, RootfsSquashfs, "xz-6", []OutputProblem{UnifiedSquashfs}},
		{"every name wrong", DefaultOutput(), OutputSettings{Type: str("vmdk"), Compression: str("lzma"), RootfsFormat: str("ext4")}, OutputSplit, RootfsSquashfs, "xz-6",
			[]OutputProblem{InvalidOutputType, InvalidCompression, InvalidRootfsFormat}},
		{"a wrong format is not also a combination", DefaultOutput(), OutputSettings{Type: str("unified"), RootfsFormat: str("ext4")}, OutputUnified, RootfsSquashfs, "xz-6",
			[]OutputProblem{InvalidRootfsFormat}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, problems := tc.base.Merge(tc.settings)
			if out.Type != tc.typ || out.RootfsFormat != tc.rootfs || out.Compression.String() != tc.compressed {
				t.Errorf("got %s/%s/%s, want %s/%s/%s", out.Type, out.RootfsFormat, out.Compression, tc.typ, tc.rootfs, tc.compressed)
			}
			if len(problems) != len(tc.problems) {
				t.Fatalf("got problems %v, want %v", problems, tc.problems)
			}
			for i, p := range problems {
				if p.Problem != tc.problems[i] {
					t.Errorf("problem %d is %v (%v), want %v", i, p.Problem, p, tc.problems[i])
				}
			}
		})
	}
}

// The disk settings' rules, for the output block and the flags alike.
func TestOutputMergeVM(t *testing.T) {
	str := func(s string) *string { return &s }
	no := false
	vm, problems := DefaultOutput().Merge(OutputSettings{Type: str("vm")})
	if len(problems) > 0 || vm.Type != OutputVM || vm.RootfsFormat != "" || vm.VM != DefaultVMSettings() || vm.Compression.String() != "xz-6" {
		t.Fatalf("split → vm = %+v, %v; want vm with the default disk settings", vm, problems)
	}
	if got, _ := vm.Merge(OutputSettings{Type: str("split")}); got.RootfsFormat != RootfsSquashfs || got.VM != (VMSettings{}) {
		t.Errorf("vm → split = %+v, want squashfs and no disk settings", got)
	}
	got, problems := vm.Merge(OutputSettings{Size: str("10G"), SecureBoot: &no, Filesystem: str("ext4"), Format: str("qcow2")})
	if want := (VMSettings{Size: 10 << 30, Filesystem: "ext4", Format: "qcow2"}); len(problems) > 0 || got.VM != want {
		t.Errorf("settings = %+v, %v; want %+v", got.VM, problems, want)
	}
	if got, _ := vm.Merge(OutputSettings{Size: str("1073741824")}); got.VM.Size != 1<<30 {
		t.Errorf("a size in bytes = %d, want 1GiB", got.VM.Size)
	}
	// unified = true: the one-tarball form of the same disk; a type
	// change takes it away with the other disk settings.
	yes := true
	unified, problems := vm.Merge(OutputSettings{Unified: &yes})
	want := DefaultVMSettings()
	want.Unified = true
	if len(problems) > 0 || unified.VM != want {
		t.Errorf("unified = %+v, %v; want %+v", unified.VM, problems, want)
	}
	if got, _ := unified.Merge(OutputSettings{Type: str("split")}); got.VM.Unified {
		t.Error("vm → split kept unified")
	}
	for _, tc := range []struct {
		name     string
		base     Output
		settings OutputSettings
		want     []OutputProblem
		names    []string
	}{
		{"rootfs on vm", vm, OutputSettings{RootfsFormat: str("tar")}, []OutputProblem{RootfsOnVM}, []string{"rootfs"}},
		{"disk settings on split", DefaultOutput(), OutputSettings{Size: str("4G"), SecureBoot: &no, Format: str("qcow2")},
			[]OutputProblem{VMSettingOnContainer, VMSettingOnContainer, VMSettingOnContainer}, []string{"size", "secure_boot", "format"}},
		{"unified on split", DefaultOutput(), OutputSettings{Unified: &no}, []OutputProblem{VMSettingOnContainer}, []string{"unified"}},
		{"a refused type is the one mistake", DefaultOutput(), OutputSettings{Type: str("kvm"), Size: str("4G")}, []OutputProblem{InvalidOutputType}, []string{"type"}},
		{"size too small", vm, OutputSettings{Size: str("511MiB")}, []OutputProblem{InvalidVMSize}, []string{"size"}},
		{"size not whole MiB", vm, OutputSettings{Size: str("600000000")}, []OutputProblem{InvalidVMSize}, []string{"size"}},
		{"size not a size", vm, OutputSettings{Size: str("big")}, []OutputProblem{InvalidVMSize}, []string{"size"}},
		{"btrfs", vm, OutputSettings{Filesystem: str("btrfs")}, []OutputProblem{InvalidFilesystem}, []string{"filesystem"}},
		{"raw", vm, OutputSettings{Format: str("raw")}, []OutputProblem{InvalidDiskFormat}, []string{"format"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, problems := tc.base.Merge(tc.settings)
			if out.VM != tc.base.VM {
				t.Errorf("refused settings changed the disk settings to %+v", out.VM)
			}
			if len(problems) != len(tc.want) {
				t.Fatalf("got problems %v, want %v", problems, tc.want)
			}
			for i, p := range problems {
				if p.Problem != tc.want[i] || p.Setting != tc.names[i] {
					t.Errorf("problem %d is %v of %s (%v), want %v of %s", i, p.Problem, p.Setting, p, tc.want[i], tc.names[i])
				}
			}
		})
	}
	_, problems = vm.Merge(OutputSettings{Filesystem: str("btrfs")})
	if msg := problems[0].Error(); msg != `filesystem "btrfs" is not supported yet; use "ext4"` {
		t.Errorf("btrfs: %q", msg)
	}
}
