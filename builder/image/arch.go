package image

import (
	"fmt"
	"sort"
	"strings"
)

// Architecture is one CPU architecture under its two names.
type Architecture struct {
	// Distribution is the Debian spelling, which debootstrap, apt and the
	// image's "architecture" property use.
	Distribution string
	// LXD is the canonical name LXD and Incus store (shared/osarch).
	LXD string
}

// architectures lists what builder can build for. The first column is the
// Debian spelling; every other spelling LXD accepts as an alias maps here
// through architectureAliases.
var architectures = []Architecture{
	{Distribution: "amd64", LXD: "x86_64"},
	{Distribution: "arm64", LXD: "aarch64"},
	{Distribution: "armhf", LXD: "armv7l"},
	{Distribution: "armel", LXD: "armv6l"},
	{Distribution: "i386", LXD: "i686"},
	{Distribution: "ppc64el", LXD: "ppc64le"},
	{Distribution: "s390x", LXD: "s390x"},
	{Distribution: "riscv64", LXD: "riscv64"},
	{Distribution: "loong64", LXD: "loongarch64"},
}

// architectureAliases are the other spellings LXD's osarch accepts, and the
// ones other distributions use (Fedora's x86_64, Alpine's armv7).
var architectureAliases = map[string]string{
	"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf", "armv7": "armhf",
	"armhfp": "armhf", "armv6l": "armel", "i686": "i386", "i586": "i386",
	"386": "i386", "x86": "i386", "ppc64le": "ppc64el", "loongarch64": "loong64",
}

// LookupArchitecture resolves any known spelling of an architecture.
func LookupArchitecture(name string) (Architecture, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	if alias, ok := architectureAliases[key]; ok {
		key = alias
	}
	for _, a := range architectures {
		if a.Distribution == key {
			return a, nil
		}
	}
	return Architecture{}, fmt.Errorf("unknown architecture %q; known: %s", name, strings.Join(ArchitectureNames(), ", "))
}

// ArchitectureNames lists the distribution spellings, sorted.
func ArchitectureNames() []string {
	names := make([]string, 0, len(architectures))
	for _, a := range architectures {
		names = append(names, a.Distribution)
	}
	sort.Strings(names)
	return names
}

// HostArchitecture maps a Go GOARCH value to its Architecture.
func HostArchitecture(goarch string) (Architecture, error) {
	switch goarch {
	case "386":
		return LookupArchitecture("i386")
	case "arm":
		return LookupArchitecture("armhf")
	case "ppc64le":
		return LookupArchitecture("ppc64el")
	}
	return LookupArchitecture(goarch)
}
