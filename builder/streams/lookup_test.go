package streams

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
)

// serverProducts is a products file as LXD's image servers write it
// (Debian spellings of architectures, aliases with and without the
// variant, newer VM-only versions) beside builder's (a unified version,
// an alias two variants share).
const serverProducts = `{"content_id": "images", "datatype": "image-downloads", "format": "products:1.0", "products": {
 "debian:bookworm:amd64:default": {"arch": "amd64", "os": "Debian", "release": "bookworm", "variant": "default",
  "aliases": "debian/bookworm/default,debian/bookworm,debian/12/default,debian/12",
  "versions": {
   "20250101_05:24": {"items": {
     "lxd.tar.xz": {"ftype": "lxd.tar.xz", "path": "images/debian/old/lxd.tar.xz", "sha256": "m1", "size": 1,
       "combined_squashfs_sha256": "fp-old-sq", "combined_rootxz_sha256": "fp-old-xz"},
     "squashfs": {"ftype": "squashfs", "path": "images/debian/old/rootfs.squashfs", "sha256": "s1", "size": 2},
     "root.tar.xz": {"ftype": "root.tar.xz", "path": "images/debian/old/rootfs.tar.xz", "sha256": "r1", "size": 3}}},
   "20250102_05:24": {"items": {
     "lxd.tar.xz": {"ftype": "lxd.tar.xz", "path": "images/debian/new/lxd.tar.xz", "sha256": "m2", "size": 1,
       "combined_rootxz_sha256": "fp-new-xz", "combined_disk-kvm-img_sha256": "fp-new-vm"},
     "root.tar.xz": {"ftype": "root.tar.xz", "path": "images/debian/new/rootfs.tar.xz", "sha256": "r2", "size": 3},
     "disk-kvm.img": {"ftype": "disk-kvm.img", "path": "images/debian/new/disk.qcow2", "sha256": "d2", "size": 4}}},
   "20250103_05:24": {"items": {
     "lxd.tar.xz": {"ftype": "lxd.tar.xz", "path": "images/debian/vm/lxd.tar.xz", "sha256": "m3", "size": 1,
       "combined_disk-kvm-img_sha256": "fp-vm-only"},
     "disk-kvm.img": {"ftype": "disk-kvm.img", "path": "images/debian/vm/disk.qcow2", "sha256": "d3", "size": 4}}}}},
 "debian:bookworm:arm64:default": {"arch": "arm64", "os": "Debian", "release": "bookworm", "variant": "default",
  "aliases": "debian/bookworm/default,debian/bookworm,debian/12/default,debian/12",
  "versions": {"20250101_05:24": {"items": {
     "lxd.tar.xz": {"ftype": "lxd.tar.xz", "path": "images/arm/lxd.tar.xz", "sha256": "m4", "size": 1, "combined_squashfs_sha256": "fp-arm"},
     "squashfs": {"ftype": "squashfs", "path": "images/arm/rootfs.squashfs", "sha256": "s4", "size": 2}}}}},
 "mine:1:x86_64:default": {"arch": "x86_64", "os": "mine", "release": "1", "variant": "default", "aliases": "mine/1/default,mine",
  "versions": {"20250101_0000": {"items": {
     "lxd_combined.tar.gz": {"ftype": "lxd_combined.tar.gz", "path": "images/u.tar.gz", "sha256": "fp-unified", "size": 5}}}}},
 "mine:1:x86_64:cloud": {"arch": "x86_64", "os": "mine", "release": "1", "variant": "cloud", "aliases": "mine/1/cloud,mine",
  "versions": {"20250101_0000": {"items": {
     "lxd_combined.tar.gz": {"ftype": "lxd_combined.tar.gz", "path": "images/c.tar.gz", "sha256": "fp-cloud", "size": 5}}}}}
}}`

func TestFind(t *testing.T) {
	p, err := ParseProducts([]byte(serverProducts), "images.json")
	if err != nil {
		t.Fatal(err)
	}
	twice, err := ParseProducts([]byte(serverProducts), "images.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, prod := range twice.Products {
		prod.Aliases, prod.Variant = "twice", ""
	}
	amd64, _ := image.LookupArchitecture("amd64")
	arm64, _ := image.LookupArchitecture("arm64")
	for _, tt := range []struct {
		name                        string
		q                           Query
		product, version, fp, files string
	}{
		// The newest version with a container image; the VM-only one
		// after it is not one.
		{"alias", Query{Alias: "debian/12", Arch: amd64}, "debian:bookworm:amd64:default", "20250102_05:24", "fp-new-xz", "images/debian/new/lxd.tar.xz images/debian/new/rootfs.tar.xz"},
		{"alias for another architecture", Query{Alias: "debian/12", Arch: arm64}, "debian:bookworm:arm64:default", "20250101_05:24", "fp-arm", "images/arm/lxd.tar.xz images/arm/rootfs.squashfs"},
		// An older version by fingerprint; squashfs preferred to tar.
		{"fingerprint", Query{Fingerprint: "fp-old-sq", Arch: amd64}, "debian:bookworm:amd64:default", "20250101_05:24", "fp-old-sq", "images/debian/old/lxd.tar.xz images/debian/old/rootfs.squashfs"},
		// The other pair of the same version, as LXD lists it: an
		// image of its own, named by its own fingerprint.
		{"fingerprint of the root.tar.xz pair", Query{Fingerprint: "fp-old-xz", Arch: amd64}, "debian:bookworm:amd64:default", "20250101_05:24", "fp-old-xz", "images/debian/old/lxd.tar.xz images/debian/old/rootfs.tar.xz"},
		{"unified", Query{Alias: "mine/1/default", Arch: amd64}, "mine:1:x86_64:default", "20250101_0000", "fp-unified", "images/u.tar.gz"},
		{"alias of two variants, settled by the variant", Query{Alias: "mine", Arch: amd64, Variant: "cloud"}, "mine:1:x86_64:cloud", "20250101_0000", "fp-cloud", "images/c.tar.gz"},
		{"alias of two variants, settled on default", Query{Alias: "mine", Arch: amd64}, "mine:1:x86_64:default", "20250101_0000", "fp-unified", "images/u.tar.gz"},
		// As LXD's clients add them: an alias followed by the
		// product's architecture, in its own or LXD's spelling.
		{"alias with the architecture", Query{Alias: "debian/12/amd64", Arch: amd64}, "debian:bookworm:amd64:default", "20250102_05:24", "fp-new-xz", "images/debian/new/lxd.tar.xz images/debian/new/rootfs.tar.xz"},
		{"alias with the architecture, LXD's spelling", Query{Alias: "debian/12/x86_64", Arch: amd64}, "debian:bookworm:amd64:default", "20250102_05:24", "fp-new-xz", "images/debian/new/lxd.tar.xz images/debian/new/rootfs.tar.xz"},
		{"alias with the architecture, another arch", Query{Alias: "debian/12/arm64", Arch: arm64}, "debian:bookworm:arm64:default", "20250101_05:24", "fp-arm", "images/arm/lxd.tar.xz images/arm/rootfs.squashfs"},
		{"a variant does not matter to a fingerprint", Query{Fingerprint: "fp-cloud", Arch: amd64, Variant: "default"}, "mine:1:x86_64:cloud", "20250101_0000", "fp-cloud", "images/c.tar.gz"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := p.Find(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			files := f.Meta.Path
			if f.Rootfs != nil {
				files += " " + f.Rootfs.Path
			}
			if f.Product != tt.product || f.Version != tt.version || f.Fingerprint != tt.fp || files != tt.files {
				t.Errorf("Find = %s %s %s %s, want %s %s %s %s", f.Product, f.Version, f.Fingerprint, files, tt.product, tt.version, tt.fp, tt.files)
			}
		})
	}
	for _, tt := range []struct {
		name string
		q    Query
		want string
	}{
		{"unknown alias", Query{Alias: "debian/13", Arch: amd64}, `no container image with alias "debian/13" for x86_64`},
		{"a VM image's fingerprint", Query{Fingerprint: "fp-vm-only", Arch: amd64}, "no container image with fingerprint fp-vm-only"},
		{"fingerprint of another architecture", Query{Fingerprint: "fp-arm", Arch: amd64}, "is for aarch64, not for x86_64"},
		{"alias of another variant", Query{Alias: "mine/1/cloud", Arch: amd64, Variant: "default"}, `no container image with alias "mine/1/cloud" for x86_64, variant "default"`},
		{"alias with another architecture", Query{Alias: "debian/12/arm64", Arch: amd64}, `"debian/12/arm64" names architecture arm64, but the recipe's is amd64`},
		{"alias of two products of one variant", Query{Alias: "twice", Arch: amd64}, "names several products: debian:bookworm:amd64:default, mine:1:x86_64:cloud, mine:1:x86_64:default"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			products := p
			if tt.q.Alias == "twice" {
				products = twice
			}
			if _, err := products.Find(tt.q); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Find = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// TestFindIncusTree: a tree that Incus's tools wrote (incus-simplestreams,
// Incus's image servers) has incus.tar.xz and incus_combined.tar.gz items
// and no lxd.* ones; its container images are found as an LXD tree's,
// and a unified item marked as a virtual machine's is not one.
func TestFindIncusTree(t *testing.T) {
	p, err := ParseProducts([]byte(`{"content_id": "images", "datatype": "image-downloads", "format": "products:1.0", "products": {
 "alpine:3.20:default:amd64": {"arch": "amd64", "os": "Alpine", "release": "3.20", "variant": "default", "aliases": "alpine/3.20/default,alpine/3.20",
  "versions": {"202501010000": {"items": {
     "incus.tar.xz": {"ftype": "incus.tar.xz", "path": "images/m.incus.tar.xz", "sha256": "m", "size": 1, "combined_squashfs_sha256": "fp-incus-split"},
     "squashfs": {"ftype": "squashfs", "path": "images/m.squashfs", "sha256": "s", "size": 2}}}}},
 "alpine:3.20:unified:amd64": {"arch": "amd64", "os": "Alpine", "release": "3.20", "variant": "unified", "aliases": "alpine/3.20/unified",
  "versions": {"202501010000": {"items": {
     "incus_combined.tar.gz": {"ftype": "incus_combined.tar.gz", "path": "images/u.incus_combined.tar.gz", "sha256": "fp-incus-unified", "size": 3}}}}},
 "alpine:3.20:vm:amd64": {"arch": "amd64", "os": "Alpine", "release": "3.20", "variant": "vm", "aliases": "alpine/3.20/vm",
  "versions": {"202501010000": {"items": {
     "incus_combined.tar.gz": {"ftype": "incus_combined.tar.gz", "path": "images/v.incus_combined.tar.gz", "sha256": "fp-incus-vm", "size": 3, "combined_type": "virtual-machine"}}}}}
}}`), "images.json")
	if err != nil {
		t.Fatal(err)
	}
	amd64, _ := image.LookupArchitecture("amd64")
	f, err := p.Find(Query{Alias: "alpine/3.20", Arch: amd64})
	if err != nil || f.Fingerprint != "fp-incus-split" || f.Meta.Path != "images/m.incus.tar.xz" || f.Rootfs == nil || f.Rootfs.Path != "images/m.squashfs" {
		t.Errorf("split: %+v, %v", f, err)
	}
	f, err = p.Find(Query{Alias: "alpine/3.20/unified", Arch: amd64})
	if err != nil || f.Fingerprint != "fp-incus-unified" || f.Meta.Path != "images/u.incus_combined.tar.gz" || f.Rootfs != nil {
		t.Errorf("unified: %+v, %v", f, err)
	}
	if _, err := p.Find(Query{Alias: "alpine/3.20/vm", Arch: amd64}); !errors.Is(err, ErrNoImage) {
		t.Errorf("a unified virtual-machine image: %v", err)
	}
	if _, err := p.Find(Query{Fingerprint: "fp-incus-vm", Arch: amd64}); !errors.Is(err, ErrNoImage) {
		t.Errorf("a unified virtual-machine image by fingerprint: %v", err)
	}
}

func TestProductPaths(t *testing.T) {
	idx, err := ParseIndex([]byte(`{"format": "index:1.0", "index": {
	  "zz": {"datatype": "image-downloads", "path": "streams/v1/zz.json"},
	  "images": {"datatype": "image-downloads", "path": "streams/v1/images.json"},
	  "aa": {"datatype": "image-ids", "path": "streams/v1/ids.json"},
	  "dup": {"datatype": "image-downloads", "path": "streams/v1/images.json"}}}`), "index.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(idx.ProductPaths(), " "); got != "streams/v1/images.json streams/v1/zz.json" {
		t.Errorf("ProductPaths = %s", got)
	}
}

// TestFindControlCharacters: a product key, version or file path with a
// control character (a terminal escape a server could make builder
// print) is refused, quoted, instead of found and printed as it is.
func TestFindControlCharacters(t *testing.T) {
	amd64, _ := image.LookupArchitecture("amd64")
	for _, tt := range []struct{ name, key, serial, path string }{
		{"product key", "evil\x1b]0;pwned\x07", "20250101_0000", "images/u.tar.gz"},
		{"version", "evil", "20250101\x1b[2J", "images/u.tar.gz"},
		{"path", "evil", "20250101_0000", "images/\x1b[2Ju.tar.gz"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(map[string]any{"content_id": "images", "datatype": "image-downloads", "format": "products:1.0", "products": map[string]any{
				tt.key: map[string]any{"arch": "amd64", "os": "Evil", "release": "1", "variant": "default", "aliases": "evil",
					"versions": map[string]any{tt.serial: map[string]any{"items": map[string]any{
						"lxd_combined.tar.gz": map[string]any{"ftype": "lxd_combined.tar.gz", "path": tt.path, "sha256": strings.Repeat("a", 64), "size": 3}}}}}}})
			if err != nil {
				t.Fatal(err)
			}
			p, err := ParseProducts(data, "images.json")
			if err != nil {
				t.Fatal(err)
			}
			f, err := p.Find(Query{Alias: "evil", Arch: amd64})
			if err == nil || strings.Contains(err.Error(), "\x1b") || !strings.Contains(err.Error(), `\x1b`) {
				t.Errorf("Find = %+v, %q; want an error quoting the control character", f, err)
			}
		})
	}
}

// TestFindSerials: as LXD and Incus, a version whose key does not start
// with a date (YYYYMMDD) is no image of the product: "latest" does not
// sort as the newest.
func TestFindSerials(t *testing.T) {
	p, err := ParseProducts([]byte(`{"content_id": "images", "datatype": "image-downloads", "format": "products:1.0", "products": {
 "x:1:amd64:default": {"arch": "amd64", "os": "X", "release": "1", "variant": "default", "aliases": "x",
  "versions": {
   "20250101_0000": {"items": {"lxd_combined.tar.gz": {"ftype": "lxd_combined.tar.gz", "path": "images/dated.tar.gz", "sha256": "fp-dated", "size": 3}}},
   "latest": {"items": {"lxd_combined.tar.gz": {"ftype": "lxd_combined.tar.gz", "path": "images/latest.tar.gz", "sha256": "fp-latest", "size": 3}}}}}}}`), "images.json")
	if err != nil {
		t.Fatal(err)
	}
	amd64, _ := image.LookupArchitecture("amd64")
	if f, err := p.Find(Query{Alias: "x", Arch: amd64}); err != nil || f.Fingerprint != "fp-dated" || f.Version != "20250101_0000" {
		t.Errorf("Find = %+v, %v; want the dated version", f, err)
	}
	if _, err := p.Find(Query{Fingerprint: "fp-latest", Arch: amd64}); !errors.Is(err, ErrNoImage) {
		t.Errorf("an undated version by fingerprint: %v", err)
	}
}
