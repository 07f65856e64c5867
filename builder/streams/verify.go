package streams

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sort"

	"github.com/builder-images/builder/builder/image"
)

// Problem is one thing tree verify found wrong.
type Problem struct {
	// Where is a file path, PRODUCT:VERSION or an index file.
	Where string `json:"where"`
	What  string `json:"what"`
}

func (p Problem) String() string { return p.Where + ": " + p.What }

// Verify reads every file the tree refers to and checks its size and
// sha256, and every image's fingerprint: each combined hash (or a unified
// file's sha256) against the files, and both stacks' items against each
// other. It also checks that index.json lists the products, each
// version's SHA256SUMS where the tree has them, and, with t.Verifier,
// every signature of a signed tree (signed.go). It returns
// the problems found; the error is for a tree it could not read at all.
// Verify takes no lock, so a concurrent prune can make it report a file
// that just went away.
func (t *Tree) Verify(ctx context.Context) ([]Problem, error) {
	var problems []Problem
	add := func(where, format string, args ...any) {
		problems = append(problems, Problem{where, fmt.Sprintf(format, args...)})
	}
	// Each index file is read once, and its signature checked over the
	// bytes read: a server that answered a second read differently
	// would otherwise have one images.json checked against the files
	// and another against its signature (signed.go).
	read := map[string][]byte{}
	pdata, _, err := t.Store.ReadIndex(ctx, ProductsPath)
	p := newProducts()
	switch {
	case isNotExist(err):
		if t.Verifier != nil {
			add(ProductsPath, "missing: no signature to check")
		}
	case err != nil:
		return nil, err
	default:
		if p, err = parseProducts(pdata, t.Store.String()+"/"+ProductsPath); err != nil {
			return nil, err
		}
		read[ProductsPath] = pdata
	}

	data, _, err := t.Store.ReadIndex(ctx, IndexPath)
	switch {
	case isNotExist(err) && (len(p.Products) > 0 || t.Verifier != nil):
		add(IndexPath, "missing")
	case err != nil && !isNotExist(err):
		return nil, err
	case err == nil:
		read[IndexPath] = data
		var idx Index
		if err := json.Unmarshal(data, &idx); err != nil {
			add(IndexPath, "%v", err)
		} else if e, ok := idx.Index["images"]; !ok || e.Path != ProductsPath {
			add(IndexPath, "no \"images\" entry pointing at %s", ProductsPath)
		} else {
			want := p.index("").Index["images"].Products
			got := slices.Clone(e.Products)
			sort.Strings(got)
			if !slices.Equal(got, want) {
				add(IndexPath, "lists products %v, %s has %v", got, ProductsPath, want)
			}
		}
	}

	// hashFile checks one item's file, feeding its bytes to extra too.
	hashFile := func(it *Item, extra ...hash.Hash) (string, error) {
		r, err := t.Store.Open(ctx, it.Path)
		if err != nil {
			return "", err
		}
		h := sha256.New()
		w := io.MultiWriter(append([]io.Writer{h}, toWriters(extra)...)...)
		n, err := io.Copy(w, r)
		err = errors.Join(err, r.Close())
		if err != nil {
			return "", err
		}
		if n != it.Size {
			add(it.Path, "%d bytes, the index says %d", n, it.Size)
		}
		sum := hex.EncodeToString(h.Sum(nil))
		if sum != it.SHA256 {
			add(it.Path, "sha256 %s, the index says %s", sum, it.SHA256)
		}
		return sum, nil
	}

	keys := make([]string, 0, len(p.Products))
	for k := range p.Products {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		prod := p.Products[key]
		for _, serial := range prod.serials() {
			v := prod.Versions[serial]
			where := key + ":" + serial
			imgs, err := v.images()
			if err != nil {
				add(where, "%v", err)
				continue
			}
			checkTwins(v, add, where)
			for _, vi := range imgs {
				verifyImage(v, vi, where, hashFile, add)
			}
			for _, f := range v.sboms() {
				if _, err := hashFile(&Item{Path: f.Path, SHA256: f.SHA256, Size: f.Size}); err != nil {
					add(f.Path, "%v", err)
				}
			}
		}
	}
	signed, err := t.signedTree(ctx)
	if err != nil {
		return nil, err
	}
	if err := t.checkSums(ctx, p, signed, read, add); err != nil {
		return nil, err
	}
	if t.Verifier != nil {
		if err := t.verifySignatures(ctx, p, read, add); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Where < problems[j].Where })
	return problems, nil
}

// verifyImage checks one image of a version: its files, and the
// fingerprint clients derive (a unified file's sha256, or each metadata
// item's combined field for the data's ftype) and builder recorded
// against the files' combined sha256.
func verifyImage(v *Version, vi versionImage, where string, hashFile func(*Item, ...hash.Hash) (string, error), add func(string, string, ...any)) {
	recorded := v.Builder
	if vi.instance == image.InstanceVM {
		recorded = v.BuilderVM
	}
	if vi.data == nil {
		if _, err := hashFile(vi.meta); err != nil {
			add(vi.meta.Path, "%v", err)
			return
		}
		if recorded != nil && recorded.Fingerprint != vi.meta.SHA256 {
			add(where, "recorded fingerprint %s, the unified file's sha256 is %s", recorded.Fingerprint, vi.meta.SHA256)
		}
		return
	}
	combined := sha256.New()
	_, err1 := hashFile(vi.meta, combined)
	_, err2 := hashFile(vi.data, combined)
	if err1 != nil || err2 != nil {
		for _, e := range []struct {
			it  *Item
			err error
		}{{vi.meta, err1}, {vi.data, err2}} {
			if e.err != nil {
				add(e.it.Path, "%v", e.err)
			}
		}
		return
	}
	fp := hex.EncodeToString(combined.Sum(nil))
	for _, ft := range []string{FtypeLXDMeta, FtypeIncusMeta} {
		it := v.Items[ft]
		if it == nil {
			continue
		}
		for name, val := range combinedFields(it, vi.data.Ftype) {
			if *val != fp {
				add(where, "%s item's %s is %q; the files' combined sha256 is %s", ft, name, *val, fp)
			}
		}
	}
	if recorded != nil && recorded.Fingerprint != fp {
		add(where, "recorded %s fingerprint %s, the files' combined sha256 is %s", vi.instance, recorded.Fingerprint, fp)
	}
}

// checkTwins checks that the LXD and Incus items of a version name the
// same file.
func checkTwins(v *Version, add func(string, string, ...any), where string) {
	for _, pair := range [][2]string{{FtypeLXDMeta, FtypeIncusMeta}, {FtypeLXDCombined, FtypeIncusCombined}} {
		a, b := v.Items[pair[0]], v.Items[pair[1]]
		switch {
		case a == nil && b == nil:
		case a == nil:
			add(where, "has a %s item but no %s item", pair[1], pair[0])
		case b == nil:
			add(where, "has a %s item but no %s item", pair[0], pair[1])
		case a.Path != b.Path || a.SHA256 != b.SHA256 || a.Size != b.Size:
			add(where, "the %s and %s items differ", pair[0], pair[1])
		}
	}
}

func toWriters(hs []hash.Hash) []io.Writer {
	ws := make([]io.Writer, len(hs))
	for i, h := range hs {
		ws[i] = h
	}
	return ws
}
