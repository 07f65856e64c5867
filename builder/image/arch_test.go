package image

import "testing"

func TestLookupArchitecture(t *testing.T) {
	tests := []struct {
		in, distribution, lxd string
	}{
		{"amd64", "amd64", "x86_64"},
		{"x86_64", "amd64", "x86_64"},
		{"arm64", "arm64", "aarch64"},
		{"aarch64", "arm64", "aarch64"},
		{"armhf", "armhf", "armv7l"},
		{"armv7l", "armhf", "armv7l"},
		{"i386", "i386", "i686"},
		{"i686", "i386", "i686"},
		{"ppc64el", "ppc64el", "ppc64le"},
		{"ppc64le", "ppc64el", "ppc64le"},
		{"s390x", "s390x", "s390x"},
		{"riscv64", "riscv64", "riscv64"},
		{" AMD64 ", "amd64", "x86_64"},
	}
	for _, tt := range tests {
		got, err := LookupArchitecture(tt.in)
		if err != nil {
			t.Errorf("LookupArchitecture(%q): %v", tt.in, err)
			continue
		}
		if got.Distribution != tt.distribution || got.LXD != tt.lxd {
			t.Errorf("LookupArchitecture(%q) = %+v, want %s/%s", tt.in, got, tt.distribution, tt.lxd)
		}
	}
	for _, bad := range []string{"", "sparc", "amd 64", "x86-64"} {
		if _, err := LookupArchitecture(bad); err == nil {
			t.Errorf("LookupArchitecture(%q) succeeded, want an error", bad)
		}
	}
}

func TestHostArchitecture(t *testing.T) {
	for goarch, want := range map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "arm": "armv7l", "ppc64le": "ppc64le", "riscv64": "riscv64"} {
		got, err := HostArchitecture(goarch)
		if err != nil || got.LXD != want {
			t.Errorf("HostArchitecture(%q) = %+v, %v; want %s", goarch, got, err, want)
		}
	}
}
