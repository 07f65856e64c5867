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
