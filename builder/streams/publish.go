package streams

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/builder-images/builder/builder/image"
)

// Result is what Publish did with one output directory.
type Result struct {
	Dir         string
	Product     string
	Version     string
	Fingerprint string
	// Status is "published", "unchanged" (the same image was there
	// already) or "replaced".
	Status string
}

// pending is one output directory on its way into the tree.
type pending struct {
	dir     string
	j       image.ImageJSON
	product string
	prod    Product // without versions
	serial  string
	image   versionImage
	files   []pendingFile
	// sbom is image.json's SBOM, uploaded beside the files; nil for an
	// output without one.
	sbom *pendingFile
}

type pendingFile struct {
	local string // path in the output directory
	info  image.FileInfo
	name  string // path in the tree
}

// serialRE is what LXD and Incus accept as a version key: YYYYMMDD, here
// optionally followed by _hhmm as builder writes it.
var serialRE = regexp.MustCompile(`^[0-9]{8}(_[0-9]{4})?$`)

// Publish adds the images of the output directories dirs to the tree.
// Files are uploaded first, each checked against image.json on the way
// (its sha256 and size, and the fingerprint over all of them), under
// content-addressed names in images/, so uploading again is harmless.
// Then, under the tree's lock, every file is checked to still be there
// (a concurrent prune may have deleted one not yet referenced) and the
// index is rewritten. A version holds one container and one VM image
// (see version.go): an image joins its version beside the other type's.
// An image of the same type already in the version with the same
// fingerprint is left alone; with another fingerprint it is an error,
// unless replace is set.
func (t *Tree) Publish(ctx context.Context, dirs []string, replace bool) ([]Result, error) {
	var all []*pending
	seen := map[string]string{}
	for _, dir := range dirs {
		pd, err := prepare(dir)
		if err != nil {
			return nil, err
		}
		id := pd.product + ":" + pd.serial + " (" + pd.image.instance + ")"
		if other, ok := seen[id]; ok {
			return nil, fmt.Errorf("%s and %s are both %s", other, dir, id)
		}
		seen[id] = dir
		all = append(all, pd)
	}
	if err := t.checkUnsignedUpload(ctx, all); err != nil {
		return nil, err
	}
	for _, pd := range all {
		if err := t.upload(ctx, pd, false); err != nil {
			return nil, err
		}
	}

	results := make([]Result, len(all))
	err := t.update(ctx, func(p *Products) (bool, error) {
		changed := false
		done := map[string]bool{}
		for _, first := range all {
			key := first.product + ":" + first.serial
			if done[key] {
				continue
			}
			done[key] = true
			var group []int
			for i, pd := range all {
				if pd.product+":"+pd.serial == key {
					group = append(group, i)
				}
			}
			grew, err := t.publishVersion(ctx, p, all, group, replace, results)
			if err != nil {
				return false, err
			}
			changed = changed || grew
		}
		return changed, nil
	})
	if err != nil {
		return nil, err
	}
	for _, r := range results {
		t.logf("%s %s:%s (%s) in %s", r.Status, r.Product, r.Version, r.Fingerprint, t.Store)
	}
	return results, nil
}

// publishVersion puts the images all[group] (one version's, at most one
// of each instance type) into p beside the version's images of other
// types, filling in their results; it reports whether p changed.
func (t *Tree) publishVersion(ctx context.Context, p *Products, all []*pending, group []int, replace bool, results []Result) (bool, error) {
	first := all[group[0]]
	prod := p.Products[first.product]
	var current []versionImage
	if prod != nil {
		if cur := prod.Versions[first.serial]; cur != nil {
			imgs, err := cur.images()
			if err != nil && !replace {
				return false, fmt.Errorf("%s: %s:%s is already in %s and unreadable (%v); use --replace", first.dir, first.product, first.serial, t.Store, err)
			}
			current = imgs
		}
	}
	changed := false
	imgs := make([]versionImage, 0, 2)
	for _, i := range group {
		pd := all[i]
		res := Result{Dir: pd.dir, Product: pd.product, Version: pd.serial, Fingerprint: pd.j.Fingerprint, Status: "published"}
		for _, cur := range current {
			if cur.instance != pd.image.instance {
				continue
			}
			switch fp := cur.fingerprint(); {
			case fp == pd.j.Fingerprint:
				res.Status = "unchanged"
			case !replace:
				return false, fmt.Errorf("%s: %s:%s already has a %s image in %s, with fingerprint %s, not %s; publish it under a new serial, or use --replace", pd.dir, pd.product, pd.serial, pd.image.instance, t.Store, fp, pd.j.Fingerprint)
			default:
				res.Status = "replaced"
			}
		}
		if err := aliasConflict(p, pd); err != nil {
			return false, err
		}
		// A concurrent prune or remove deletes files that no version
		// refers to; ours may have been among them.
		if err := t.upload(ctx, pd, true); err != nil {
			return false, err
		}
		results[i] = res
		changed = changed || res.Status != "unchanged"
		imgs = append(imgs, pd.image)
	}
	if !changed {
		return false, nil
	}
	for _, cur := range current {
		if !slices.ContainsFunc(imgs, func(vi versionImage) bool { return vi.instance == cur.instance }) {
			imgs = append(imgs, cur)
		}
	}
	v, err := composeVersion(imgs, "")
	if err != nil {
		return false, fmt.Errorf("%s: cannot go into %s:%s beside the image there: %w", first.dir, first.product, first.serial, err)
	}
	if prod == nil {
		fresh := first.prod
		fresh.Versions = map[string]*Version{}
		prod = &fresh
		p.Products[first.product] = prod
	}
	prod.Versions[first.serial] = v
	return true, nil
}

// aliasConflict refuses a recipe alias that another product of the same
// architecture already has: clients would pick one of the two silently.
func aliasConflict(p *Products, pd *pending) error {
	for key, prod := range p.Products {
		if key == pd.product || prod.Arch != pd.prod.Arch {
			continue
		}
		for _, a := range prod.aliasList() {
			if a == pd.prod.defaultAlias() || slices.Contains(pd.j.Aliases, a) {
				return fmt.Errorf("%s: alias %s is already product %s's", pd.dir, a, key)
			}
		}
	}
	return nil
}

// prepare reads an output directory's image.json and works out the
// product, the version and the files' names in the tree.
func prepare(dir string) (*pending, error) {
	j, err := image.ReadImageJSON(dir)
	if err != nil {
		return nil, err
	}
	props := j.Properties
	pd := &pending{dir: dir, j: j, serial: props["serial"]}
	prod := Product{Arch: j.Architecture, OS: props["os"], Release: props["release"], Variant: props["variant"]}
	if prod.Variant == "" {
		prod.Variant = "default"
	}
	prod.ReleaseTitle = prod.Release
	for _, f := range []struct{ name, value string }{{"os", prod.OS}, {"release", prod.Release}, {"variant", prod.Variant}} {
		if f.value == "" {
			return nil, fmt.Errorf("%s: image.json has no %s property, which names the product", dir, f.name)
		}
		if strings.ContainsAny(f.value, ":/") {
			return nil, fmt.Errorf("%s: the %s property %q has a ':' or '/', which the product key and alias cannot hold", dir, f.name, f.value)
		}
	}
	if err := image.CheckAlias(prod.defaultAlias()); err != nil {
		return nil, fmt.Errorf("%s: alias %s %w", dir, prod.defaultAlias(), err)
	}
	if !serialRE.MatchString(pd.serial) {
		return nil, fmt.Errorf("%s: the serial property %q is not YYYYMMDD or YYYYMMDD_hhmm, which clients need as the version", dir, pd.serial)
	}
	if _, err := time.Parse("20060102", pd.serial[:8]); err != nil {
		return nil, fmt.Errorf("%s: the serial %q does not start with a date", dir, pd.serial)
	}
	pd.product = strings.Join([]string{prod.OS, prod.Release, prod.Variant, prod.Arch}, ":")
	pd.prod = prod

	pd.image = versionImage{instance: j.InstanceType(), info: &VersionInfo{
		Fingerprint: j.Fingerprint, Type: j.Type, Name: j.Name, Aliases: j.Aliases,
		Properties: props, Created: j.Created, Expires: j.Expires,
	}}
	if d := j.SBOM; d != nil {
		// Named by its sha256 like the image files (image.Check made
		// sure it is one, and the name a bare file name).
		name := ImagesDir + "/" + d.SHA256 + ".spdx.json"
		pd.sbom = &pendingFile{local: filepath.Join(dir, d.Name), info: d.File(), name: name}
		pd.image.info.SBOM = &TreeFile{Path: name, SHA256: d.SHA256, Size: d.Size}
	}
	if j.Type == image.TypeVM && j.Unified() {
		return nil, fmt.Errorf("%s: a unified VM image cannot be published: LXD takes every unified file of a simplestreams tree for a container image; publish the split form (lxd.tar.EXT and disk.qcow2)", dir)
	}
	for _, f := range j.Files {
		local := filepath.Join(dir, f.Name)
		ext, err := sniff(local)
		if err != nil {
			return nil, err
		}
		name := ImagesDir + "/" + f.SHA256 + ext
		pd.files = append(pd.files, pendingFile{local: local, info: f, name: name})
		item := &Item{Path: name, SHA256: f.SHA256, Size: f.Size}
		tarball := ext != ".squashfs" && ext != ".qcow2"
		switch f.Role {
		case image.RoleUnified:
			if !tarball {
				return nil, fmt.Errorf("%s: a unified image is a tarball, not %s", local, strings.TrimPrefix(ext, "."))
			}
			item.Ftype = FtypeLXDCombined
			pd.image.meta = item
		case image.RoleMetadata:
			if !tarball {
				return nil, fmt.Errorf("%s: the metadata file must be a tarball", local)
			}
			item.Ftype = FtypeLXDMeta
			pd.image.meta = item
		case image.RoleRootfs:
			switch ext {
			case ".qcow2":
				return nil, fmt.Errorf("%s: a container's rootfs is squashfs or a tarball, not a qcow2 disk", local)
			case ".squashfs":
				item.Ftype = FtypeSquashfs
			default:
				item.Ftype = FtypeRootTar
			}
			pd.image.data = item
		case image.RoleDisk:
			if ext != ".qcow2" {
				return nil, fmt.Errorf("%s: a VM image's disk must be qcow2", local)
			}
			item.Ftype = FtypeDiskKVM
			pd.image.data = item
		}
	}
	return pd, nil
}

// sniff returns the tree file extension for a file's content: clients
// and daemons detect compression from the bytes, and the name in the tree
// should say what the bytes are.
func sniff(path string) (_ string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return ".tar.gz", nil
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return ".tar.xz", nil
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return ".tar.zst", nil
	case bytes.HasPrefix(head, []byte("hsqs")):
		return ".squashfs", nil
	case bytes.HasPrefix(head, []byte{'Q', 'F', 'I', 0xfb}):
		return ".qcow2", nil
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return ".tar", nil
	}
	return "", fmt.Errorf("%s is neither a gzip, xz or zstd tarball, a tar, squashfs nor a qcow2 disk", path)
}

// upload puts an image's files into the tree, or, for those already
// there, checks the local copy; either way every byte goes through the
// hashes image.json is checked against. With again set, only files
// missing from the tree are read.
func (t *Tree) upload(ctx context.Context, pd *pending, again bool) error {
	combined := image.NewCombinedHasher()
	for _, f := range pd.files {
		if err := t.uploadFile(ctx, pd, f, combined.Next(f.info.Name, f.info.Role), again); err != nil {
			return err
		}
	}
	if f := pd.sbom; f != nil {
		// Not one of the image's files: hashed apart from the
		// fingerprint.
		if err := t.uploadFile(ctx, pd, *f, image.NewCombinedHasher().Next(f.info.Name, f.info.Role), again); err != nil {
			return err
		}
	}
	if again {
		return nil
	}
	fp, err := combined.Fingerprint()
	if err != nil {
		return fmt.Errorf("publishing %s: %w", pd.dir, err)
	}
	if fp != pd.j.Fingerprint {
		return fmt.Errorf("publishing %s: the files' fingerprint is %s, image.json says %s", pd.dir, fp, pd.j.Fingerprint)
	}
	return nil
}

// uploadFile is upload for one file, its bytes fed to h.
func (t *Tree) uploadFile(ctx context.Context, pd *pending, f pendingFile, h *image.FileHasher, again bool) error {
	size, err := t.Store.Stat(ctx, f.name)
	switch {
	case err == nil && size == f.info.Size:
		if again {
			return nil
		}
		err = hashLocal(f.local, h)
	case err == nil || isNotExist(err):
		err = t.putChecked(ctx, f, h)
		if err == nil {
			t.logf("uploaded %s as %s", f.local, f.name)
		}
	}
	if err != nil {
		return fmt.Errorf("publishing %s: %w", pd.dir, err)
	}
	return checkHashed(f, h)
}

func (t *Tree) putChecked(ctx context.Context, f pendingFile, h *image.FileHasher) (err error) {
	r, err := os.Open(f.local)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.Close()) }()
	return t.Store.PutFile(ctx, f.name, io.TeeReader(r, h), f.info.Size, func() error { return checkHashed(f, h) })
}

func checkHashed(f pendingFile, h *image.FileHasher) error {
	got := h.Info()
	if got.SHA256 != f.info.SHA256 || got.Size != f.info.Size {
		return fmt.Errorf("%s has sha256 %s and %d bytes; image.json says %s and %d bytes", f.local, got.SHA256, got.Size, f.info.SHA256, f.info.Size)
	}
	return nil
}

func hashLocal(path string, w io.Writer) (err error) {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}
