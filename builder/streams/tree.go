package streams

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/builder-images/builder/builder/image"
)

// Tree is a simplestreams tree in a store.
type Tree struct {
	Store Store
	// Log receives one line per change; nil discards them.
	Log io.Writer
	// Now is the clock for expiry and index timestamps; nil is time.Now.
	Now func() time.Time
	// LockTimeout bounds the wait for another publisher's lock; 0 waits
	// as long as the context allows.
	LockTimeout time.Duration
	// Signer, when set, signs the tree after every change (signed.go);
	// without it, a signed tree cannot be changed.
	Signer Signer
	// Verifier, when set, makes Verify check the tree's signatures.
	Verifier Verifier
}

func (t *Tree) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Tree) logf(format string, args ...any) {
	if t.Log != nil {
		fmt.Fprintf(t.Log, format+"\n", args...)
	}
}

// Read returns the tree's products; a tree with no images.json yet is
// empty.
func (t *Tree) Read(ctx context.Context) (*Products, error) {
	p, _, err := t.read(ctx)
	return p, err
}

func (t *Tree) read(ctx context.Context) (*Products, string, error) {
	data, tag, err := t.Store.ReadIndex(ctx, ProductsPath)
	if isNotExist(err) {
		return newProducts(), "", nil
	}
	if err != nil {
		return nil, "", err
	}
	p, err := parseProducts(data, t.Store.String()+"/"+ProductsPath)
	return p, tag, err
}

// Images lists the tree's images that match every filter; see Match.
func (t *Tree) Images(ctx context.Context, filters ...string) ([]Image, error) {
	p, err := t.Read(ctx)
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, img := range p.images() {
		ok, err := Match(img, filters)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, img)
		}
	}
	return out, nil
}

// Match applies lxc image list's filters to img; all must match. A bare
// filter matches a substring of an alias or of the fingerprint. KEY=VALUE
// matches a property whose name matches KEY, each dot-separated part of
// KEY a prefix of the name's part ("rel" matches "release"), or one of
// the image's fields (architecture, type, fingerprint, product, version),
// and whose
// value matches VALUE as a regular expression anchored at both ends
// (unless VALUE holds ^ or $ itself), or equals VALUE when it is not one.
func Match(img Image, filters []string) (bool, error) {
	for _, f := range filters {
		key, value, isKV := strings.Cut(f, "=")
		found := false
		if !isKV {
			found = strings.Contains(img.Fingerprint, f)
			for _, a := range img.Aliases {
				found = found || strings.Contains(a, f)
			}
		} else {
			re := value
			if !strings.ContainsAny(value, "^$") {
				re = "^(?:" + value + ")$"
			}
			r, rerr := regexp.Compile(re)
			for _, field := range filterFields(img) {
				if !dotPrefixMatch(key, field[0]) {
					continue
				}
				if v := field[1]; (rerr == nil && r.MatchString(v)) || (rerr != nil && v == value) {
					found = true
					break
				}
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

// filterFields are the names KEY=VALUE filters look at: the properties,
// then the image's own fields, as lxc image list also matches those; so
// arch=x86_64 finds an image whose architecture property is amd64.
func filterFields(img Image) [][2]string {
	fields := make([][2]string, 0, len(img.Properties)+5)
	for name, v := range img.Properties {
		fields = append(fields, [2]string{name, v})
	}
	return append(fields,
		[2]string{"architecture", img.Architecture}, [2]string{"type", img.Type},
		[2]string{"fingerprint", img.Fingerprint}, [2]string{"product", img.Product},
		[2]string{"version", img.Version})
}

// dotPrefixMatch reports whether each dot-separated part of short is a
// prefix of the same part of full, with as many parts.
func dotPrefixMatch(short, full string) bool {
	s, f := strings.Split(short, "."), strings.Split(full, ".")
	if len(s) != len(f) {
		return false
	}
	for i := range s {
		if !strings.HasPrefix(f[i], s[i]) {
			return false
		}
	}
	return true
}

// update runs change on the products under the tree's lock and, when it
// reports a change, rewrites images.json then index.json and deletes the
// files no version refers to any more. Every step is in the lock, so a
// file another publisher uploaded for its own version cannot be deleted
// while it is being referenced.
func (t *Tree) update(ctx context.Context, change func(p *Products) (bool, error)) error {
	return t.updateSigned(ctx, false, change)
}

// updateSigned is update; with resign (tree sign), every signature is
// made again even where the index says it is current, so that signatures
// a failed write left stale or missing are repaired.
func (t *Tree) updateSigned(ctx context.Context, resign bool, change func(p *Products) (bool, error)) (err error) {
	host, _ := os.Hostname() // only a label in the lock
	lctx, cancel := ctx, context.CancelFunc(func() {})
	if t.LockTimeout > 0 {
		lctx, cancel = context.WithTimeout(ctx, t.LockTimeout)
	}
	unlock, err := t.Store.Lock(lctx, fmt.Sprintf("%s pid %d since %s", host, os.Getpid(), t.now().UTC().Format(time.RFC3339)))
	cancel()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, unlock()) }()

	p, tag, err := t.read(ctx)
	if err != nil {
		return err
	}
	old, err := t.snapshot(p)
	if err != nil {
		return err
	}
	changed, err := change(p)
	if err != nil {
		return err
	}
	if changed {
		for _, prod := range p.Products {
			prod.refresh()
		}
		for key, prod := range p.Products {
			if len(prod.Versions) == 0 {
				delete(p.Products, key)
			}
		}
	}
	if t.Signer == nil {
		if !changed {
			return nil
		}
		// Changing a signed tree without the key would leave signatures
		// that no longer match: refused rather than left stale.
		signed, err := t.signedTree(ctx)
		if err != nil {
			return err
		}
		if signed {
			return fmt.Errorf("%s is signed (it has %s): pass --sign-key so that its signatures are made again with the change", t.Store, IndexSignedPath)
		}
	} else {
		// Signing also happens without a change, for a tree (or
		// versions) not yet signed with this key.
		resigned, err := t.signVersions(ctx, p, resign)
		if err != nil {
			return err
		}
		signed, err := t.signedTree(ctx)
		if err != nil {
			return err
		}
		if !changed && !resigned && signed && !resign {
			return nil
		}
	}
	if err := t.write(ctx, p, tag); err != nil {
		return err
	}
	for _, name := range p.unreferenced(old) {
		if err := t.Store.Remove(ctx, name); err != nil {
			return fmt.Errorf("removing unreferenced %s: %w", name, err)
		}
		t.logf("deleted %s", name)
	}
	return nil
}

// snapshot deep-copies p through its JSON form.
func (t *Tree) snapshot(p *Products) (*Products, error) {
	data, err := marshalJSON(p)
	if err != nil {
		return nil, err
	}
	return parseProducts(data, "snapshot")
}

// write stores images.json (only if unchanged since tag) and then
// index.json, which lists its products.
func (t *Tree) write(ctx context.Context, p *Products, tag string) error {
	updated := t.now().UTC().Format(time.RFC1123Z)
	p.Updated = updated
	data, err := marshalJSON(p)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", ProductsPath, err)
	}
	idxv := p.index(updated)
	idx, err := marshalJSON(idxv)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", IndexPath, err)
	}
	// Every signature is made before anything is written: a signing
	// failure leaves the tree as it was.
	var sigs map[string][]byte
	if t.Signer != nil {
		if sigs, err = t.indexSignatures(ctx, data, idx, idxv); err != nil {
			return err
		}
	}
	if err := t.Store.WriteIndex(ctx, ProductsPath, data, tag); err != nil {
		return err
	}
	for _, name := range []string{ProductsPath + SigExt, ProductsSignedPath} {
		if sig, ok := sigs[name]; ok {
			if err := t.replace(ctx, name, sig); err != nil {
				return err
			}
		}
	}
	if err := t.replace(ctx, IndexPath, idx); err != nil {
		return err
	}
	for _, name := range []string{IndexPath + SigExt, IndexSignedPath} {
		if sig, ok := sigs[name]; ok {
			if err := t.replace(ctx, name, sig); err != nil {
				return err
			}
		}
	}
	return nil
}

// Remove deletes images from the tree. Each selector is a fingerprint
// (or a prefix of at least 12 digits: that one image, leaving the other
// type's image of its version), a product key (every version), or
// PRODUCT:VERSION (both its images). A selector that matches nothing is
// an error and nothing is removed.
func (t *Tree) Remove(ctx context.Context, selectors ...string) error {
	return t.update(ctx, func(p *Products) (bool, error) {
		// instance "" is the whole version.
		type target struct{ product, version, instance string }
		var targets []target
		for _, sel := range selectors {
			var found []target
			if prod := p.Products[sel]; prod != nil {
				for _, serial := range prod.serials() {
					found = append(found, target{sel, serial, ""})
				}
			} else if i := strings.LastIndex(sel, ":"); i > 0 && p.Products[sel[:i]] != nil && p.Products[sel[:i]].Versions[sel[i+1:]] != nil {
				found = append(found, target{sel[:i], sel[i+1:], ""})
			} else if len(sel) >= 12 && strings.Trim(sel, "0123456789abcdef") == "" {
				for _, img := range p.images() {
					if img.Fingerprint != "" && strings.HasPrefix(img.Fingerprint, sel) {
						found = append(found, target{img.Product, img.Version, img.instance})
					}
				}
			}
			if len(found) == 0 {
				return false, fmt.Errorf("no image in %s matches %q (a fingerprint of at least 12 digits, PRODUCT or PRODUCT:VERSION)", t.Store, sel)
			}
			targets = append(targets, found...)
		}
		for _, tg := range targets {
			prod := p.Products[tg.product]
			if _, ok := prod.Versions[tg.version]; !ok {
				continue
			}
			if tg.instance == "" {
				delete(prod.Versions, tg.version)
				t.logf("removed %s:%s", tg.product, tg.version)
				continue
			}
			if err := removeImage(prod, tg.version, tg.instance); err != nil {
				return false, err
			}
			t.logf("removed the %s image of %s:%s", tg.instance, tg.product, tg.version)
		}
		return true, nil
	})
}

// removeImage removes the image of one instance type from a version,
// and the version with it when it was the only one.
func removeImage(prod *Product, serial, instance string) error {
	v := prod.Versions[serial]
	imgs, err := v.images()
	if err != nil {
		return err
	}
	var kept []versionImage
	for _, vi := range imgs {
		if vi.instance != instance {
			kept = append(kept, vi)
		}
	}
	if len(kept) == 0 {
		delete(prod.Versions, serial)
		return nil
	}
	nv, err := composeVersion(kept, v.PubName)
	if err != nil {
		return err
	}
	prod.Versions[serial] = nv
	return nil
}

// Prune removes every image past its expiry (a version whose images have
// all expired goes whole) and, with keep > 0, all but the newest keep
// versions of each product. With dryRun it only reports. It returns
// what it removed as PRODUCT:VERSION, or PRODUCT:VERSION (TYPE) for one
// image of a version that stays.
func (t *Tree) Prune(ctx context.Context, keep int, dryRun bool) ([]string, error) {
	now := t.now()
	var removed []string
	err := t.update(ctx, func(p *Products) (bool, error) {
		keys := make([]string, 0, len(p.Products))
		for k := range p.Products {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, key := range keys {
			prod := p.Products[key]
			for i, serial := range prod.serials() {
				v := prod.Versions[serial]
				var expired []string
				imgs, _ := v.images()
				for _, vi := range imgs {
					b := v.Builder
					if vi.instance == image.InstanceVM {
						b = v.BuilderVM
					}
					if b != nil && !b.Expires.IsZero() && !now.Before(b.Expires) {
						expired = append(expired, vi.instance)
					}
				}
				whole := (len(imgs) > 0 && len(expired) == len(imgs)) || (keep > 0 && i >= keep)
				if !whole && len(expired) == 0 {
					continue
				}
				why := "expired"
				if whole && len(expired) < len(imgs) {
					why = fmt.Sprintf("older than the newest %d", keep)
				}
				what := []string{key + ":" + serial}
				if !whole {
					what = nil
					for _, inst := range expired {
						what = append(what, key+":"+serial+" ("+inst+")")
					}
				}
				removed = append(removed, what...)
				for _, w := range what {
					if dryRun {
						t.logf("would remove %s (%s)", w, why)
					} else {
						t.logf("removed %s (%s)", w, why)
					}
				}
				if dryRun {
					continue
				}
				if whole {
					delete(prod.Versions, serial)
					continue
				}
				for _, inst := range expired {
					if err := removeImage(prod, serial, inst); err != nil {
						return false, fmt.Errorf("%s:%s: %w", key, serial, err)
					}
				}
			}
		}
		return len(removed) > 0 && !dryRun, nil
	})
	return removed, err
}
