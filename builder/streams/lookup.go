package streams

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/builder-images/builder/builder/image"
)

// The client side of a tree: finding the container image an alias or a
// fingerprint names on a simplestreams server, as LXD and Incus do when
// they copy from an image-server remote. The image bootstrap uses it to
// start a build from an existing image; the server may be builder serve
// (signed or not) or any LXD/Incus image server.

// ParseIndex reads a server's streams/v1/index.json.
func ParseIndex(data []byte, where string) (*Index, error) {
	var idx Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("reading %s: %w", where, err)
	}
	return &idx, nil
}

// ProductPaths are the index's products files with images to download,
// in a stable order ("images" first, as LXD reads it).
func (idx *Index) ProductPaths() []string {
	keys := make([]string, 0, len(idx.Index))
	for k, e := range idx.Index {
		if e.DataType == "image-downloads" && e.Path != "" {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "images":
			return -1
		case b == "images":
			return 1
		}
		return strings.Compare(a, b)
	})
	var paths []string
	seen := map[string]bool{}
	for _, k := range keys {
		if p := idx.Index[k].Path; !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	return paths
}

// ParseProducts reads a products file (streams/v1/images.json) a server
// sent.
func ParseProducts(data []byte, where string) (*Products, error) {
	return parseProducts(data, where)
}

// ErrNoImage is a query that names no container image of a tree.
var ErrNoImage = errors.New("no container image")

// Query names a container image on a server.
type Query struct {
	// Alias is one of a product's aliases ("debian/12"); the newest
	// version holding a container image is taken.
	Alias string
	// Fingerprint is an image's full fingerprint, looked for in every
	// version when Alias is empty.
	Fingerprint string
	// Arch is the architecture the image must have.
	Arch image.Architecture
	// Variant, when set, is the variant an alias's product must have;
	// unset, an alias that products of several variants carry is
	// settled on "default".
	Variant string
}

// String names the query in messages.
func (q Query) String() string {
	if q.Alias != "" && q.Variant != "" {
		return fmt.Sprintf("alias %q for %s, variant %q", q.Alias, q.Arch.LXD, q.Variant)
	}
	if q.Alias != "" {
		return fmt.Sprintf("alias %q for %s", q.Alias, q.Arch.LXD)
	}
	return fmt.Sprintf("fingerprint %s", q.Fingerprint)
}

// Found is a container image of a server's tree.
type Found struct {
	// Product is the product's key (os:release:variant:arch), Version
	// its serial.
	Product, Version string
	// Fingerprint is the image's fingerprint as the tree states it: the
	// metadata item's combined hash of a split image, the unified
	// file's sha256.
	Fingerprint string
	// Meta is a split image's metadata file, or a unified image's one
	// file; Rootfs is a split image's squashfs (preferred) or root
	// tarball, nil for a unified image.
	Meta, Rootfs *Item
	// Aliases are the product's, Properties os, release and variant.
	Aliases    []string
	Properties map[string]string
}

// Find returns the container image q names: by alias, the newest version
// of the product carrying it for q's architecture and variant; by
// fingerprint, the version whose container image has it, which must be
// of q's architecture. It wraps ErrNoImage when there is none.
func (p *Products) Find(q Query) (Found, error) {
	var matches []Found
	for _, key := range slices.Sorted(maps.Keys(p.Products)) {
		prod := p.Products[key]
		arch, err := image.LookupArchitecture(prod.Arch)
		if err != nil {
			continue // an architecture builder does not build for
		}
		if q.Alias != "" && (arch.LXD != q.Arch.LXD || !carries(prod, arch, q.Alias)) {
			continue
		}
	versions:
		for _, serial := range prod.serials() {
			if !dated(serial) {
				continue // as LXD and Incus skip it
			}
			v := clientVersion(prod.Versions[serial])
			for i, vi := range containerPairs(v) {
				if q.Alias != "" && i > 0 {
					break // an alias names the first, as LXD's sort does
				}
				f := found(key, serial, prod, v, vi)
				if q.Alias == "" && f.Fingerprint != q.Fingerprint {
					continue
				}
				if err := printable(f); err != nil {
					return Found{}, err
				}
				if q.Alias == "" && arch.LXD != q.Arch.LXD {
					return Found{}, fmt.Errorf("image %s (%s version %s) is for %s, not for %s, the recipe's architecture", q.Fingerprint, key, serial, arch.LXD, q.Arch.LXD)
				}
				matches = append(matches, f)
				break versions
			}
		}
	}
	if q.Alias != "" && (q.Variant != "" || len(matches) > 1) {
		variant := cmp.Or(q.Variant, "default")
		same := slices.DeleteFunc(slices.Clone(matches), func(f Found) bool { return variantOf(f) != variant })
		if q.Variant != "" || len(same) > 0 {
			matches = same
		}
	}
	switch len(matches) {
	case 0:
		if i := strings.LastIndex(q.Alias, "/"); i >= 0 {
			if a, err := image.LookupArchitecture(q.Alias[i+1:]); err == nil && a.LXD != q.Arch.LXD {
				return Found{}, fmt.Errorf("%w with %s: %q names architecture %s, but the recipe's is %s", ErrNoImage, q, q.Alias, q.Alias[i+1:], q.Arch.Distribution)
			}
		}
		return Found{}, fmt.Errorf("%w with %s", ErrNoImage, q)
	case 1:
		return matches[0], nil
	}
	keys := make([]string, len(matches))
	for i, f := range matches {
		keys[i] = f.Product
	}
	return Found{}, fmt.Errorf("%s names several products: %s; give the image's fingerprint, or the variant", q, strings.Join(keys, ", "))
}

// dated says whether a version key starts with a date (YYYYMMDD), as
// LXD and Incus require of a serial: others are no image of the product.
func dated(serial string) bool {
	if len(serial) < 8 {
		return false
	}
	_, err := time.Parse("20060102", serial[:8])
	return err == nil
}

// printable refuses a found image whose product key, version or file
// paths hold a control character: builder prints them, and a server
// must not write terminal escapes through it. Errors quote them.
func printable(f Found) error {
	names := map[string]string{"product": f.Product, "version": f.Version, "file": f.Meta.Path}
	if f.Rootfs != nil {
		names["root filesystem file"] = f.Rootfs.Path
	}
	for _, what := range slices.Sorted(maps.Keys(names)) {
		if strings.ContainsFunc(names[what], unicode.IsControl) {
			return fmt.Errorf("the server names a %s %q: a control character in it", what, names[what])
		}
	}
	return nil
}

// containerPairs are the version's container images as LXD lists them:
// the one image picks (squashfs before root.tar.xz), then, for a split
// version with both, the metadata with root.tar.xz, an image of its own
// with its own fingerprint (combined_rootxz_sha256), which a fingerprint
// may name.
func containerPairs(v *Version) []versionImage {
	vi, ok := v.image(image.InstanceContainer)
	if !ok {
		return nil
	}
	out := []versionImage{vi}
	meta, tar := v.Items[FtypeLXDMeta], v.Items[FtypeRootTar]
	if vi.data != nil && meta != nil && tar != nil && vi.data.Path != tar.Path {
		if fp := clientFingerprint(meta, FtypeRootTar); fp != "" {
			out = append(out, versionImage{instance: image.InstanceContainer, meta: vi.meta, data: bare(tar), info: &VersionInfo{Fingerprint: fp}})
		}
	}
	return out
}

// clientVersion is v as a client reads it: a version that Incus's tools
// wrote has incus.tar.xz and incus_combined.tar.gz items and no lxd.*
// ones, read as their lxd.* counterparts; a unified item Incus marks as
// a virtual machine's (combined_type) holds no container image.
func clientVersion(v *Version) *Version {
	c := *v
	c.Items = maps.Clone(v.Items)
	for lxd, incus := range map[string]string{FtypeLXDMeta: FtypeIncusMeta, FtypeLXDCombined: FtypeIncusCombined} {
		if c.Items[lxd] == nil && c.Items[incus] != nil {
			c.Items[lxd] = c.Items[incus]
		}
	}
	if it := c.Items[FtypeLXDCombined]; it != nil && it.CombinedType == "virtual-machine" {
		delete(c.Items, FtypeLXDCombined)
	}
	return &c
}

// found describes the image vi of a product's version.
// A split image's fingerprint is the metadata item's combined hash, as
// clients read it, else builder's record of it.
func found(key, serial string, prod *Product, v *Version, vi versionImage) Found {
	f := Found{Product: key, Version: serial, Fingerprint: vi.fingerprint(), Meta: vi.meta, Rootfs: vi.data,
		Aliases: splitAliases(prod.Aliases), Properties: map[string]string{}}
	if meta := v.Items[FtypeLXDMeta]; vi.data != nil && meta != nil {
		if fp := clientFingerprint(meta, vi.data.Ftype); fp != "" {
			f.Fingerprint = fp
		}
	}
	for k, v := range map[string]string{"os": prod.OS, "release": prod.Release, "variant": prod.Variant} {
		if v != "" {
			f.Properties[k] = v
		}
	}
	return f
}

// carries says whether the product (of architecture arch) carries
// alias: one of its aliases, or one followed by "/" and its
// architecture, in the product's or any spelling LXD accepts, as LXD's
// and Incus's clients offer them ("debian/12/amd64").
func carries(prod *Product, arch image.Architecture, alias string) bool {
	aliases := splitAliases(prod.Aliases)
	if slices.Contains(aliases, alias) {
		return true
	}
	i := strings.LastIndex(alias, "/")
	if i < 0 || !slices.Contains(aliases, alias[:i]) {
		return false
	}
	a, err := image.LookupArchitecture(alias[i+1:])
	return err == nil && a.LXD == arch.LXD
}

// variantOf is the product's variant; none means "default", as LXD's
// image servers spell it.
func variantOf(f Found) string {
	if v := f.Properties["variant"]; v != "" {
		return v
	}
	return "default"
}

// splitAliases reads a product's comma-separated aliases.
func splitAliases(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}
