package bootstrap

import (
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
)

func TestDebootstrapArgv(t *testing.T) {
	arm64, _ := image.LookupArchitecture("arm64")
	full := &Config{
		Suite: "bookworm", Variant: "minbase", Mirror: "http://mirror.example/debian",
		Keyring: "/k.gpg", Components: []string{"main", "contrib"}, Include: []string{"a", "b"},
		Exclude: []string{"c"}, ExtraArgs: []string{"--no-merged-usr"},
	}
	tests := []struct {
		tool string
		b    *Config
		want string
		err  string
	}{
		{"debootstrap", full, "debootstrap --arch=arm64 --foreign --variant=minbase --components=main,contrib --include=a,b --exclude=c --keyring=/k.gpg --no-merged-usr bookworm /r http://mirror.example/debian", ""},
		{"debootstrap", &Config{Suite: "bookworm"}, "debootstrap --arch=arm64 --foreign bookworm /r", ""},
		{"debootstrap", &Config{Suite: "bookworm", ExtraArgs: []string{"--foreign"}}, "debootstrap --arch=arm64 --foreign bookworm /r", ""},
		{"mmdebstrap", &Config{Suite: "bookworm", Variant: "apt", Include: []string{"a"}}, "mmdebstrap --arch=arm64 --mode=root --skip=check/empty --skip=chroot/mount --dpkgopt=force-unsafe-io --variant=apt --include=a bookworm /r", ""},
		{"mmdebstrap", full, "", "mmdebstrap cannot exclude packages"},
	}
	for _, tt := range tests {
		argv, err := debootstrapBackend{tool: tt.tool}.argv(arm64, tt.b, tt.b.Keyring, SuiteScript{}, "/r")
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want %q", tt.tool, err, tt.err)
			}
			continue
		}
		if got := strings.Join(argv, " "); err != nil || got != tt.want {
			t.Errorf("%s argv:\n got %s (%v)\nwant %s", tt.tool, got, err, tt.want)
		}
	}
}
