package recipe

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLimits: the limits block sets the build's tmpfs sizes and a
// tarball's expansion bound; without it, the defaults apply.
func TestLimits(t *testing.T) {
	for _, tt := range []struct {
		name, block string
		want        Limits
	}{
		{"none", "", DefaultLimits()},
		{"some", "limits {\n  tmp_size = \"4GiB\"\n  shm_size = 134217728\n}\n",
			Limits{Tmp: 4 << 30, Run: 64 << 20, Shm: 128 << 20, Tarball: 64 << 30}},
		{"all", "limits {\n  tmp_size = \"1.5G\"\n  run_size = \"16M\"\n  shm_size = \"1MiB\"\n  tarball_size = \"2T\"\n}\n",
			Limits{Tmp: 3 << 29, Run: 16 << 20, Shm: 1 << 20, Tarball: 2 << 40}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.hcl")
			src := tt.block + "image {\n  distribution = \"debian\"\n  release = \"bookworm\"\n}\nbootstrap \"busybox\" {}\n"
			if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			plan, diags := NewLoader().Load(path, Options{HostArch: "amd64"})
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			got := plan.Limits
			got.Range = Limits{}.Range
			if got != tt.want {
				t.Errorf("limits %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1048576": 1 << 20, "64GiB": 64 << 30, "64G": 64 << 30, "64gib": 64 << 30, "512 MiB": 512 << 20,
		"2K": 2048, "2KB": 2048, "1.5T": 3 << 39, "7B": 7,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "G", "-1G", "1 parsec", "1iB", "1e3", "1X", "99999999999T"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}
