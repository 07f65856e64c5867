package streams

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/builder-images/builder/builder/image"
)

// Paths inside a tree.
const (
	IndexPath    = "streams/v1/index.json"
	ProductsPath = "streams/v1/images.json"
	ImagesDir    = "images"
	// LockName is the lock file (directory) or object (S3) in the tree
	// root. Names starting with "." are never served.
	LockName = ".builder-lock"
)

// The ftypes clients look for. LXD reads only the lxd* ones and Incus only
// the incus* ones; the data ftypes are shared. An ftype names a file's
// role, not its compression: both daemons detect compression from the
// bytes, so a gzip metadata tarball is still "lxd.tar.xz".
const (
	FtypeLXDMeta       = "lxd.tar.xz"
	FtypeIncusMeta     = "incus.tar.xz"
	FtypeLXDCombined   = "lxd_combined.tar.gz"
	FtypeIncusCombined = "incus_combined.tar.gz"
	FtypeSquashfs      = "squashfs"
	FtypeRootTar       = "root.tar.xz"
	// FtypeDiskKVM is a VM image's qcow2 disk.
	FtypeDiskKVM = "disk-kvm.img"
)

// Index is streams/v1/index.json.
type Index struct {
	Format  string                `json:"format"`
	Index   map[string]IndexEntry `json:"index"`
	Updated string                `json:"updated,omitempty"`
}

// IndexEntry points at a products file.
type IndexEntry struct {
	DataType string   `json:"datatype"`
	Path     string   `json:"path"`
	Format   string   `json:"format"`
	Products []string `json:"products"`
	Updated  string   `json:"updated,omitempty"`
}

// Products is streams/v1/images.json.
type Products struct {
	ContentID string              `json:"content_id"`
	DataType  string              `json:"datatype"`
	Format    string              `json:"format"`
	Products  map[string]*Product `json:"products"`
	Updated   string              `json:"updated,omitempty"`
}

// Product is one os:release:variant:arch with its versions.
type Product struct {
	// Aliases is comma-separated, as clients read it; see
	// Product.setAliases.
	Aliases      string `json:"aliases"`
	Arch         string `json:"arch"`
	OS           string `json:"os"`
	Release      string `json:"release"`
	ReleaseTitle string `json:"release_title"`
	Variant      string `json:"variant,omitempty"`
	// SupportEOL is the newest version's expiry date (YYYY-MM-DD): LXD
	// takes it as the expiry of the images it copies from the product.
	SupportEOL string              `json:"support_eol,omitempty"`
	Versions   map[string]*Version `json:"versions"`
}

// Version is one serial of a product.
type Version struct {
	Items   map[string]*Item `json:"items"`
	PubName string           `json:"pubname,omitempty"`
	// Builder is what builder records beyond simplestreams about the
	// version's container image, BuilderVM about its VM image; clients
	// ignore unknown fields.
	Builder   *VersionInfo `json:"builder,omitempty"`
	BuilderVM *VersionInfo `json:"builder_vm,omitempty"`
	// Sums is the version's signed SHA256SUMS in a signed tree
	// (signed.go); clients ignore it.
	Sums *Sums `json:"sha256sums,omitempty"`
}

// VersionInfo is builder's record of a published image: what tree list
// filters on and tree prune decides by.
type VersionInfo struct {
	Fingerprint string            `json:"fingerprint"`
	Type        string            `json:"type"`
	Name        string            `json:"name,omitempty"`
	Aliases     []string          `json:"aliases,omitempty"`
	Properties  map[string]string `json:"properties,omitempty"`
	Created     time.Time         `json:"created,omitzero"`
	// Expires is image.json's expiry; tree prune removes the version
	// after it.
	Expires time.Time `json:"expires,omitzero"`
	// SBOM is the image's SBOM (image.json's sbom) in the tree: not an
	// item, since clients read items, and listed in the version's
	// SHA256SUMS, so a signed tree vouches for it.
	SBOM *TreeFile `json:"sbom,omitempty"`
}

// TreeFile is a file of a version beside its items.
type TreeFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// sboms returns the version's SBOM files, the container image's first.
func (v *Version) sboms() []*TreeFile {
	var out []*TreeFile
	for _, b := range []*VersionInfo{v.Builder, v.BuilderVM} {
		if b != nil && b.SBOM != nil {
			out = append(out, b.SBOM)
		}
	}
	return out
}

// Item is one file of a version.
type Item struct {
	Ftype  string `json:"ftype"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Combined hashes, on metadata items only: sha256 of the metadata
	// file followed by the data file, LXD's fingerprint of the pair.
	CombinedSHA256         string `json:"combined_sha256,omitempty"`
	CombinedRootxzSHA256   string `json:"combined_rootxz_sha256,omitempty"`
	CombinedSquashfsSHA256 string `json:"combined_squashfs_sha256,omitempty"`
	CombinedDiskKVMSHA256  string `json:"combined_disk-kvm-img_sha256,omitempty"`
	// CombinedType is Incus's mark on a unified item:
	// "virtual-machine" for a VM's, which is no container image.
	CombinedType string `json:"combined_type,omitempty"`
}

// newProducts returns an empty products file.
func newProducts() *Products {
	return &Products{ContentID: "images", DataType: "image-downloads", Format: "products:1.0", Products: map[string]*Product{}}
}

// parseProducts reads images.json; unknown fields are kept out, since the
// file is rewritten from the typed value.
func parseProducts(data []byte, where string) (*Products, error) {
	p := newProducts()
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("reading %s: %w", where, err)
	}
	if p.Products == nil {
		p.Products = map[string]*Product{}
	}
	for key, prod := range p.Products {
		if prod == nil {
			return nil, fmt.Errorf("reading %s: product %s is null", where, key)
		}
		if prod.Versions == nil {
			prod.Versions = map[string]*Version{}
		}
		for serial, v := range prod.Versions {
			if v == nil || v.Items == nil {
				return nil, fmt.Errorf("reading %s: product %s version %s has no items", where, key, serial)
			}
		}
	}
	return p, nil
}

// marshalJSON is two-space indented JSON with a final newline, map keys
// sorted, so that the same tree gives the same bytes.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// index returns index.json for p.
func (p *Products) index(updated string) *Index {
	keys := make([]string, 0, len(p.Products))
	for k := range p.Products {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return &Index{
		Format: "index:1.0",
		Index: map[string]IndexEntry{"images": {
			DataType: "image-downloads", Path: ProductsPath, Format: "products:1.0",
			Products: keys, Updated: updated,
		}},
		Updated: updated,
	}
}

// serials returns a product's version keys, newest first.
func (prod *Product) serials() []string {
	keys := make([]string, 0, len(prod.Versions))
	for k := range prod.Versions {
		keys = append(keys, k)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(keys)))
	return keys
}

// defaultAlias is os/release/variant, the alias incus-simplestreams and
// the public image servers give a product.
func (prod *Product) defaultAlias() string {
	return prod.OS + "/" + prod.Release + "/" + prod.Variant
}

// aliasList returns the product's aliases: the default one first, then the
// recipes' aliases of every version, sorted.
func (prod *Product) aliasList() []string {
	seen := map[string]bool{prod.defaultAlias(): true}
	var extra []string
	for _, v := range prod.Versions {
		for _, b := range []*VersionInfo{v.Builder, v.BuilderVM} {
			if b == nil {
				continue
			}
			for _, a := range b.Aliases {
				if !seen[a] {
					seen[a] = true
					extra = append(extra, a)
				}
			}
		}
	}
	sort.Strings(extra)
	return append([]string{prod.defaultAlias()}, extra...)
}

// refresh recomputes the fields derived from the versions: aliases and
// support_eol.
func (prod *Product) refresh() {
	prod.Aliases = strings.Join(prod.aliasList(), ",")
	prod.SupportEOL = ""
	if serials := prod.serials(); len(serials) > 0 {
		v := prod.Versions[serials[0]]
		for _, b := range []*VersionInfo{v.Builder, v.BuilderVM} {
			if b != nil && !b.Expires.IsZero() {
				prod.SupportEOL = b.Expires.UTC().Format("2006-01-02")
				break
			}
		}
	}
}

// Image is one image of one version of a product as tree list shows it:
// a version holds a container image, a VM image or both.
type Image struct {
	Product     string `json:"product"`
	Version     string `json:"version"`
	Fingerprint string `json:"fingerprint"`
	// Type is image.json's: split, unified or virtual-machine.
	Type         string            `json:"type"`
	Architecture string            `json:"architecture"`
	Aliases      []string          `json:"aliases"`
	Properties   map[string]string `json:"properties"`
	Size         int64             `json:"size"`
	Created      time.Time         `json:"created,omitzero"`
	Expires      time.Time         `json:"expires,omitzero"`
	// Files are the tree paths of the image's files, in fingerprint
	// order.
	Files []string `json:"files"`
	// Unified is the unified file's path, empty for a split image.
	Unified string `json:"-"`
	// instance is image.InstanceContainer or image.InstanceVM.
	instance string
}

// images lists every image of p, products sorted by key, versions newest
// first, a version's container image before its VM image. A product's
// aliases go to the newest image of each instance type only: that is
// the one an alias resolves to (clients ask for an alias and a type).
func (p *Products) images() []Image {
	keys := make([]string, 0, len(p.Products))
	for k := range p.Products {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []Image
	for _, key := range keys {
		prod := p.Products[key]
		aliased := map[string]bool{}
		for _, serial := range prod.serials() {
			v := prod.Versions[serial]
			vimgs, err := v.images()
			if err != nil {
				// Listed, so that tree verify and remove can name it.
				out = append(out, Image{Product: key, Version: serial, Architecture: prod.Arch, Aliases: []string{}, Properties: map[string]string{}})
				continue
			}
			for _, vi := range vimgs {
				img := Image{Product: key, Version: serial, Fingerprint: vi.fingerprint(), Architecture: prod.Arch, Aliases: []string{}, instance: vi.instance}
				props := map[string]string{}
				if b := vi.info; b != nil {
					img.Type, img.Created, img.Expires = b.Type, b.Created, b.Expires
					for k, val := range b.Properties {
						props[k] = val
					}
				}
				// What a client derives wins over the recorded copy.
				for k, val := range map[string]string{"os": prod.OS, "release": prod.Release, "variant": prod.Variant, "serial": serial} {
					if val != "" {
						props[k] = val
					}
				}
				img.Properties = props
				if !aliased[vi.instance] {
					aliased[vi.instance] = true
					img.Aliases = prod.aliasList()
				}
				img.Files = append(img.Files, vi.meta.Path)
				img.Size = vi.meta.Size
				switch {
				case vi.data == nil:
					img.Unified = vi.meta.Path
					if img.Type == "" {
						img.Type = image.TypeUnified
					}
				default:
					img.Files = append(img.Files, vi.data.Path)
					img.Size += vi.data.Size
					if img.Type == "" && vi.instance == image.InstanceVM {
						img.Type = image.TypeVM
					} else if img.Type == "" {
						img.Type = image.TypeSplit
					}
				}
				out = append(out, img)
			}
		}
	}
	return out
}

// referenced returns every file path p refers to.
func (p *Products) referenced() map[string]bool {
	refs := map[string]bool{}
	for _, prod := range p.Products {
		for _, v := range prod.Versions {
			for _, it := range v.Items {
				refs[it.Path] = true
			}
			for _, f := range v.sboms() {
				refs[f.Path] = true
			}
			if v.Sums != nil {
				refs[v.Sums.Path] = true
				refs[v.Sums.Signature] = true
			}
		}
	}
	return refs
}

// unreferenced returns the paths old refers to and p does not, sorted.
func (p *Products) unreferenced(old *Products) []string {
	now := p.referenced()
	var gone []string
	for path := range old.referenced() {
		if !now[path] {
			gone = append(gone, path)
		}
	}
	slices.Sort(gone)
	return gone
}
