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
	version *Version
	files   []pendingFile
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
// index is rewritten. A version already in the tree with the same
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
		id := pd.product + ":" + pd.serial
		if other, ok := seen[id]; ok {
			return nil, fmt.Errorf("%s and %s are both %s", other, dir, id)
		}
		seen[id] = dir
		all = append(all, pd)
	}
	for _, pd := range all {
		if err := t.upload(ctx, pd, false); err != nil {
			return nil, err
		}
	}

	results := make([]Result, len(all))
	err := t.update(ctx, func(p *Products) (bool, error) {
		changed := false
		for i, pd := range all {
			res := Result{Dir: pd.dir, Product: pd.product, Version: pd.serial, Fingerprint: pd.j.Fingerprint, Status: "published"}
			prod := p.Products[pd.product]
			if prod != nil {
				if cur := prod.Versions[pd.serial]; cur != nil {
					fp := cur.fingerprint()
					switch {
					case fp == pd.j.Fingerprint:
						res.Status = "unchanged"
					case !replace:
						return false, fmt.Errorf("%s: %s:%s is already in %s with fingerprint %s, not %s; publish it under a new serial, or use --replace", pd.dir, pd.product, pd.serial, t.Store, fp, pd.j.Fingerprint)
					default:
						res.Status = "replaced"
					}
				}
			}
			if err := aliasConflict(p, pd); err != nil {
				return false, err
			}
			// A concurrent prune or remove deletes files that no
			// version refers to; ours may have been among them.
			if err := t.upload(ctx, pd, true); err != nil {
				return false, err
			}
			results[i] = res
			if res.Status == "unchanged" {
				continue
			}
			if prod == nil {
				fresh := pd.prod
				fresh.Versions = map[string]*Version{}
				prod = &fresh
				p.Products[pd.product] = prod
			}
			prod.Versions[pd.serial] = pd.version
			changed = true
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

	v := &Version{Items: map[string]*Item{}, PubName: j.Name, Builder: &VersionInfo{
		Fingerprint: j.Fingerprint, Type: j.Type, Name: j.Name, Aliases: j.Aliases,
		Properties: props, Created: j.Created, Expires: j.Expires,
	}}
	for _, f := range j.Files {
		local := filepath.Join(dir, f.Name)
		ext, err := sniff(local)
		if err != nil {
			return nil, err
		}
		name := ImagesDir + "/" + f.SHA256 + ext
		pd.files = append(pd.files, pendingFile{local: local, info: f, name: name})
		item := Item{Path: name, SHA256: f.SHA256, Size: f.Size}
		switch f.Role {
		case image.RoleUnified:
			if ext == ".squashfs" {
				return nil, fmt.Errorf("%s: a unified image is a tarball, not squashfs", local)
			}
			for _, ft := range []string{FtypeLXDCombined, FtypeIncusCombined} {
				it := item
				it.Ftype = ft
				v.Items[ft] = &it
			}
		case image.RoleMetadata:
			if ext == ".squashfs" {
				return nil, fmt.Errorf("%s: the metadata file must be a tarball", local)
			}
			for _, ft := range []string{FtypeLXDMeta, FtypeIncusMeta} {
				it := item
				it.Ftype = ft
				v.Items[ft] = &it
			}
		case image.RoleRootfs:
			item.Ftype = FtypeRootTar
			if ext == ".squashfs" {
				item.Ftype = FtypeSquashfs
			}
			v.Items[item.Ftype] = &item
			for _, ft := range []string{FtypeLXDMeta, FtypeIncusMeta} {
				if item.Ftype == FtypeSquashfs {
					v.Items[ft].CombinedSquashfsSHA256 = j.Fingerprint
				} else {
					v.Items[ft].CombinedRootxzSHA256 = j.Fingerprint
					v.Items[ft].CombinedSHA256 = j.Fingerprint
				}
			}
		}
	}
	pd.version = v
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
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return ".tar", nil
	}
	return "", fmt.Errorf("%s is neither a gzip, xz or zstd tarball, a tar nor squashfs", path)
}

// upload puts an image's files into the tree, or, for those already
// there, checks the local copy; either way every byte goes through the
// hashes image.json is checked against. With again set, only files
// missing from the tree are read.
func (t *Tree) upload(ctx context.Context, pd *pending, again bool) error {
	combined := image.NewCombinedHasher()
	for _, f := range pd.files {
		h := combined.Next(f.info.Name, f.info.Role)
		size, err := t.Store.Stat(ctx, f.name)
		switch {
		case err == nil && size == f.info.Size:
			if again {
				continue
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
		if err := checkHashed(f, h); err != nil {
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
