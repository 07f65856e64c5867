package bootstrap

import (
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/builder-images/builder/builder/image"
)

// ociPlatform is the OCI platform (GOARCH spelling, image-spec
// config.md) of a recipe's architecture.
type ociPlatform struct {
	arch string
	// variants are those an image of the architecture may state; an
	// image that states none is taken too.
	variants []string
}

// ociPlatforms maps Debian's architecture names to OCI's. armel is
// ARMv5 in Debian (what the arm32v5 images are), armhf ARMv7.
var ociPlatforms = map[string]ociPlatform{
	"amd64":   {arch: "amd64"},
	"arm64":   {arch: "arm64", variants: []string{"v8"}},
	"armhf":   {arch: "arm", variants: []string{"v7"}},
	"armel":   {arch: "arm", variants: []string{"v5", "v6"}},
	"i386":    {arch: "386"},
	"ppc64el": {arch: "ppc64le"},
	"s390x":   {arch: "s390x"},
	"riscv64": {arch: "riscv64"},
	"loong64": {arch: "loong64"},
}

func ociPlatformOf(a image.Architecture) ociPlatform {
	if p, ok := ociPlatforms[a.Distribution]; ok {
		return p
	}
	return ociPlatform{arch: a.Distribution}
}

// String is how errors spell it: "linux/arm/v7".
func (p ociPlatform) String() string {
	s := "linux/" + p.arch
	if len(p.variants) > 0 && p.arch == "arm" {
		s += "/" + strings.Join(p.variants, "|")
	}
	return s
}

// matches says whether an image or index entry of platform q is one of p.
func (p ociPlatform) matches(q v1.Platform) bool {
	return q.OS == "linux" && q.Architecture == p.arch && (q.Variant == "" || slices.Contains(p.variants, q.Variant))
}

// choose picks the manifest for p from an index's entries: exactly one
// must match.
func (p ociPlatform) choose(entries []v1.Descriptor, src ociSource, arch image.Architecture) (v1.Descriptor, error) {
	var found []v1.Descriptor
	var offered []string
	for _, d := range entries {
		if d.Platform == nil {
			continue
		}
		offered = append(offered, platformString(d.Platform.OS, d.Platform.Architecture, d.Platform.Variant))
		if p.matches(*d.Platform) {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return v1.Descriptor{}, fmt.Errorf("%s has no image for %s (the recipe's %s); its index offers %s",
			src, p, arch.Distribution, orNone(offered))
	default:
		return v1.Descriptor{}, fmt.Errorf("%s has %d images for %s in its index; pin one with digest", src, len(found), p)
	}
}

func platformString(os, arch, variant string) string {
	s := os + "/" + arch
	if variant != "" {
		s += "/" + variant
	}
	return s
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "no platform"
	}
	return strings.Join(list, ", ")
}
