package sbom_test

import (
	"os/exec"
	"testing"

	"github.com/builder-images/builder/builder/sbom"
)

var versionPairs = [][2]string{
	{"1.0", "1.0"}, {"1.0", "1.1"}, {"1.0~rc1", "1.0"}, {"1.0~~", "1.0~"}, {"1.0", "1.0+b1"},
	{"1:1.0", "2.0"}, {"2.36-9+deb12u7", "2.36-9+deb12u8"}, {"1.2.13.dfsg-1", "1.2.13-1"},
	{"9.2p1-2+deb12u3", "9.2p1-2+deb12u10"}, {"1.0a", "1.0+"}, {"1.0-1", "1.0"}, {"1.01", "1.1"},
	{"0:1.0", "1.0"}, {"1.0-1~bpo12+1", "1.0-1"}, {"20230311", "20230311+deb12u1"}, {"a", "b"},
	{"1.0.0", "1.0"}, {"2:9.0.1378-2", "1:9.1"}, {"1.0-a", "1.0-A"}, {"10", "9"},
}

func TestCompareVersions(t *testing.T) {
	want := []int{0, -1, -1, -1, -1, 1, -1, 1, -1, -1, 1, 0, 0, -1, -1, -1, 1, 1, 1, 1}
	for i, p := range versionPairs {
		if got := sbom.CompareVersions(p[0], p[1]); got != want[i] {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", p[0], p[1], got, want[i])
		}
		if got := sbom.CompareVersions(p[1], p[0]); got != -want[i] {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", p[1], p[0], got, -want[i])
		}
	}
}

// TestCompareVersionsDpkg checks the same pairs against dpkg itself,
// where the host has it.
func TestCompareVersionsDpkg(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("no dpkg on this host")
	}
	for _, p := range versionPairs {
		for _, op := range []struct {
			name string
			want bool
		}{{"lt", sbom.CompareVersions(p[0], p[1]) < 0}, {"eq", sbom.CompareVersions(p[0], p[1]) == 0}} {
			err := exec.Command("dpkg", "--compare-versions", p[0], op.name, p[1]).Run()
			if (err == nil) != op.want {
				t.Errorf("dpkg --compare-versions %s %s %s: %v, builder says %v", p[0], op.name, p[1], err, op.want)
			}
		}
	}
}
