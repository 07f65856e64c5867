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
	// variants are those an image of the architecture may state, in
	// the order an index's are preferred; an image that states none is
	// taken too, after them.
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

// choose picks the manifest for p from an index's entries: of those
// that match, the one of the variant p prefers (its variants in order,
// then none stated), which must be alone unless pin (the recipe's
// digest) names one of them.
func (p ociPlatform) choose(entries []v1.Descriptor, pin string, src ociSource, arch image.Architecture) (v1.Descriptor, error) {
	var found []v1.Descriptor
	var offered []string
	best := len(p.variants) + 1
	for _, d := range entries {
		if d.Platform == nil {
			continue
		}
		offered = append(offered, platformString(d.Platform.OS, d.Platform.Architecture, d.Platform.Variant))
		if !p.matches(*d.Platform) {
			continue
		}
		if pin != "" && d.Digest.String() == pin {
			return d, nil
		}
		switch rank := p.rank(d.Platform.Variant); {
		case rank < best:
			best, found = rank, []v1.Descriptor{d}
		case rank == best:
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
		digests := make([]string, len(found))
		for i, d := range found {
			digests[i] = d.Digest.String()
		}
		return v1.Descriptor{}, fmt.Errorf("%s has %d images for %s in its index (%s); pin one with digest",
			src, len(found), platformString("linux", p.arch, found[0].Platform.Variant), strings.Join(digests, ", "))
	}
}

// rank orders the variants of p's images: those p lists in its order,
// then an image that states none.
func (p ociPlatform) rank(variant string) int {
	if i := slices.Index(p.variants, variant); i >= 0 {
		return i
	}
	return len(p.variants)
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
