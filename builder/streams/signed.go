package streams

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// A signed tree carries, beside the index files clients read, the files
// simplestreams' own tools (sstream-mirror, sstream-query with a
// keyring) and people check, named as Ubuntu's and lxc-ci's trees name
// them:
//
//	streams/v1/index.sjson       index.json clearsigned, its path pointing at images.sjson
//	streams/v1/index.json.gpg    an armoured detached signature of index.json
//	streams/v1/images.sjson      images.json clearsigned
//	streams/v1/images.json.gpg   an armoured detached signature of images.json
//	images/SHA256.SHA256SUMS     each version's files, as sha256sum -c reads them
//	images/SHA256.SHA256SUMS.gpg its armoured detached signature
//
// LXD and Incus read index.json and images.json only, and check no
// signature: they trust the HTTPS server, and check each file against
// the sha256 images.json lists. The signatures are for whoever mirrors
// or audits the tree: gpgv on index.json.gpg proves images.json's
// sha256 list, and with it every file.
const (
	IndexSignedPath    = "streams/v1/index.sjson"
	ProductsSignedPath = "streams/v1/images.sjson"
	// SigExt is appended to a file's name for its detached signature.
	SigExt = ".gpg"
	// SumsExt ends a version's SHA256SUMS file in images/.
	SumsExt = ".SHA256SUMS"
)

// Signer makes the signatures of a signed tree (builder/sign.GPG runs
// gpg for it: this package runs no program).
type Signer interface {
	// Fingerprint names the key; it is recorded with each version's
	// SHA256SUMS, so that a change of key signs them again.
	Fingerprint() string
	// Clearsign returns data as a clearsigned message.
	Clearsign(ctx context.Context, data []byte) ([]byte, error)
	// DetachSign returns an armoured detached signature of data.
	DetachSign(ctx context.Context, data []byte) ([]byte, error)
}

// Verifier checks a signed tree's signatures against a keyring
// (builder/sign.Keyring).
type Verifier interface {
	// VerifyDetached checks sig over data and returns the signer's
	// fingerprint.
	VerifyDetached(data, sig []byte) (string, error)
	// VerifyClearsigned checks a clearsigned message and returns its
	// text and the signer's fingerprint.
	VerifyClearsigned(msg []byte) ([]byte, string, error)
}

// Sums is a version's signed SHA256SUMS, recorded in images.json
// (clients ignore it).
type Sums struct {
	// Path is the SHA256SUMS file, images/SHA256.SHA256SUMS, named by
	// its own sha256 like every file of the tree.
	Path string `json:"path"`
	// Signature is Path's detached signature, Path + ".gpg".
	Signature string `json:"signature"`
	// SignedBy is the signing key's fingerprint.
	SignedBy string `json:"signed_by"`
}

// sumsFor returns the SHA256SUMS text of a version's files (its items
// and its images' SBOMs) and its path in the tree. Lines name the files relative to images/, where the file
// lies, so `sha256sum -c` run there checks them; sorted, each file once
// (the LXD and Incus items name the same files).
func sumsFor(v *Version) ([]byte, string) {
	lines := map[string]string{}
	for _, it := range v.Items {
		name, ok := strings.CutPrefix(it.Path, ImagesDir+"/")
		if !ok {
			name = "../" + it.Path
		}
		lines[name] = it.SHA256 + "  " + name + "\n"
	}
	for _, f := range v.sboms() {
		name, ok := strings.CutPrefix(f.Path, ImagesDir+"/")
		if !ok {
			name = "../" + f.Path
		}
		lines[name] = f.SHA256 + "  " + name + "\n"
	}
	names := make([]string, 0, len(lines))
	for n := range lines {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	for _, n := range names {
		buf.WriteString(lines[n])
	}
	sum := sha256.Sum256(buf.Bytes())
	return buf.Bytes(), ImagesDir + "/" + hex.EncodeToString(sum[:]) + SumsExt
}

// signedTree reports whether the tree has been signed: its index.sjson
// is there.
func (t *Tree) signedTree(ctx context.Context) (bool, error) {
	_, err := t.Store.Stat(ctx, IndexSignedPath)
	switch {
	case err == nil:
		return true, nil
	case isNotExist(err):
		return false, nil
	}
	return false, err
}

// signVersions gives every version of p whose SHA256SUMS is missing,
// stale or signed by another key (with all, every version) a new one,
// signed; it reports whether it signed any. Runs under the tree's lock,
// before images.json is written, so the index never names a SHA256SUMS
// that is not there yet.
func (t *Tree) signVersions(ctx context.Context, p *Products, all bool) (bool, error) {
	changed := false
	for _, key := range slices.Sorted(maps.Keys(p.Products)) {
		prod := p.Products[key]
		for _, serial := range prod.serials() {
			v := prod.Versions[serial]
			data, path := sumsFor(v)
			want := Sums{Path: path, Signature: path + SigExt, SignedBy: t.Signer.Fingerprint()}
			if !all && v.Sums != nil && *v.Sums == want {
				continue
			}
			sig, err := t.Signer.DetachSign(ctx, data)
			if err != nil {
				return false, fmt.Errorf("signing %s:%s: %w", key, serial, err)
			}
			if err := t.replace(ctx, path, data); err != nil {
				return false, err
			}
			if err := t.replace(ctx, want.Signature, sig); err != nil {
				return false, err
			}
			v.Sums = &want
			changed = true
			t.logf("signed %s:%s (%s)", key, serial, path)
		}
	}
	return changed, nil
}

// replace writes a small file whatever was there: the tree's lock is
// held, so nobody else writes it.
func (t *Tree) replace(ctx context.Context, name string, data []byte) error {
	_, tag, err := t.Store.ReadIndex(ctx, name)
	if err != nil && !isNotExist(err) {
		return err
	}
	return t.Store.WriteIndex(ctx, name, data, tag)
}

// signedIndex is index.json as index.sjson holds it: its entries' paths
// point at the clearsigned products files, as simplestreams' tools
// expect of a signed index.
func signedIndex(idx *Index) *Index {
	out := *idx
	out.Index = map[string]IndexEntry{}
	for k, e := range idx.Index {
		if p, ok := strings.CutSuffix(e.Path, ".json"); ok {
			e.Path = p + ".sjson"
		}
		out.Index[k] = e
	}
	return &out
}

// indexSignatures makes the four index signature files for the bytes of
// images.json and of index.json (and idx, its value), by name.
func (t *Tree) indexSignatures(ctx context.Context, products, index []byte, idx *Index) (map[string][]byte, error) {
	sidx, err := marshalJSON(signedIndex(idx))
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", IndexSignedPath, err)
	}
	out := map[string][]byte{}
	for _, s := range []struct {
		name  string
		data  []byte
		clear bool
	}{
		{ProductsPath + SigExt, products, false}, {ProductsSignedPath, products, true},
		{IndexPath + SigExt, index, false}, {IndexSignedPath, sidx, true},
	} {
		sign := t.Signer.DetachSign
		if s.clear {
			sign = t.Signer.Clearsign
		}
		sig, err := sign(ctx, s.data)
		if err != nil {
			return nil, fmt.Errorf("signing %s: %w", s.name, err)
		}
		out[s.name] = sig
	}
	return out, nil
}

// verifySignatures checks a signed tree against t.Verifier: the index
// files' signatures, that the clearsigned copies say what the .json
// files say, and each version's SHA256SUMS and its signature. read holds
// the bytes Verify read (and checked the files against) of the index
// files and SHA256SUMS: the signatures are checked over those bytes, not
// over a second read, which a hostile server could answer with the
// genuine files.
func (t *Tree) verifySignatures(ctx context.Context, p *Products, read map[string][]byte, add func(string, string, ...any)) error {
	for _, f := range []struct{ json, signed string }{{IndexPath, IndexSignedPath}, {ProductsPath, ProductsSignedPath}} {
		data, ok := read[f.json]
		if !ok {
			continue // Verify reported it missing
		}
		// A bad detached signature is reported; the clearsigned copy
		// is checked all the same.
		if _, err := t.checkDetached(ctx, f.json, data, add); err != nil {
			return err
		}
		msg, _, err := t.Store.ReadIndex(ctx, f.signed)
		switch {
		case isNotExist(err):
			add(f.signed, "missing: the tree is not signed (publish with --sign-key)")
			continue
		case err != nil:
			return err
		}
		text, _, err := t.Verifier.VerifyClearsigned(msg)
		if err != nil {
			add(f.signed, "%v", err)
			continue
		}
		if !sameJSON(text, data, f.json == IndexPath) {
			add(f.signed, "its signed content is not what %s says", f.json)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(p.Products)) {
		prod := p.Products[key]
		for _, serial := range prod.serials() {
			v := prod.Versions[serial]
			where := key + ":" + serial
			if v.Sums == nil {
				add(where, "has no signed SHA256SUMS (publish with --sign-key signs it)")
				continue
			}
			data, ok := read[v.Sums.Path]
			if !ok {
				continue // checkSums reported it missing
			}
			if _, err := t.checkDetached(ctx, v.Sums.Path, data, add); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkDetached checks name's detached signature (name + SigExt) over
// data, reporting a missing or bad one; it reports whether it is good.
func (t *Tree) checkDetached(ctx context.Context, name string, data []byte, add func(string, string, ...any)) (bool, error) {
	sig, _, err := t.Store.ReadIndex(ctx, name+SigExt)
	switch {
	case isNotExist(err):
		add(name+SigExt, "missing: %s is not signed", name)
		return false, nil
	case err != nil:
		return false, err
	}
	if _, err := t.Verifier.VerifyDetached(data, sig); err != nil {
		add(name+SigExt, "%v (over %s)", err, name)
		return false, nil
	}
	return true, nil
}

// checkSums checks each version's recorded SHA256SUMS against its items:
// run by every Verify, with or without a keyring. It adds the bytes it
// read to read, for verifySignatures.
func (t *Tree) checkSums(ctx context.Context, p *Products, signed bool, read map[string][]byte, add func(string, string, ...any)) error {
	for _, key := range slices.Sorted(maps.Keys(p.Products)) {
		prod := p.Products[key]
		for _, serial := range prod.serials() {
			v := prod.Versions[serial]
			where := key + ":" + serial
			if v.Sums == nil {
				if signed && t.Verifier == nil {
					add(where, "has no signed SHA256SUMS, though the tree is signed")
				}
				continue
			}
			want, path := sumsFor(v)
			if v.Sums.Path != path || v.Sums.Signature != path+SigExt {
				add(where, "its SHA256SUMS is recorded as %s (signature %s); its files make %s", v.Sums.Path, v.Sums.Signature, path)
			}
			// Read once, even when recorded twice or under an index
			// file's name: what is compared is what is verified.
			got, ok := read[v.Sums.Path]
			if !ok {
				var err error
				got, _, err = t.Store.ReadIndex(ctx, v.Sums.Path)
				switch {
				case isNotExist(err):
					add(v.Sums.Path, "missing (%s's SHA256SUMS)", where)
					continue
				case err != nil:
					return err
				}
				read[v.Sums.Path] = got
			}
			if !bytes.Equal(got, want) {
				add(v.Sums.Path, "does not list %s's files as the index does", where)
			}
			if t.Verifier == nil {
				if _, err := t.Store.Stat(ctx, v.Sums.Signature); isNotExist(err) {
					add(v.Sums.Signature, "missing (%s's SHA256SUMS signature)", where)
				} else if err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// sameJSON reports whether a clearsigned text and a .json file hold the
// same value; for the index, the signed copy's paths point at .sjson.
func sameJSON(signed, file []byte, isIndex bool) bool {
	var a, b any
	if json.Unmarshal(signed, &a) != nil {
		return false
	}
	if isIndex {
		var idx Index
		if json.Unmarshal(file, &idx) != nil {
			return false
		}
		data, err := marshalJSON(signedIndex(&idx))
		if err != nil {
			return false
		}
		file = data
	}
	if json.Unmarshal(file, &b) != nil {
		return false
	}
	return reflect.DeepEqual(a, b)
}

// Sign signs the whole tree again with t.Signer without changing its
// images: every version's SHA256SUMS, then the index files. It is how an
// unsigned tree becomes signed, how a new key replaces the old one's
// signatures, and how signatures a failed publish left stale (images.json
// written, its signature not) are repaired: publish signs only what its
// change touched.
func (t *Tree) Sign(ctx context.Context) error {
	if t.Signer == nil {
		return fmt.Errorf("signing %s: no key", t.Store)
	}
	return t.updateSigned(ctx, true, func(*Products) (bool, error) { return false, nil })
}

// checkUnsignedUpload refuses, before any file is uploaded, a publish
// without a key into a signed tree that lacks some of its files: update
// would refuse the change (its signatures would go stale), leaving the
// uploaded files behind, referred to by nothing. Publishing what the
// tree has already stays a harmless no-op.
func (t *Tree) checkUnsignedUpload(ctx context.Context, all []*pending) error {
	if t.Signer != nil {
		return nil
	}
	signed, err := t.signedTree(ctx)
	if err != nil || !signed {
		return err
	}
	for _, pd := range all {
		files := slices.Clone(pd.files)
		if pd.sbom != nil {
			files = append(files, *pd.sbom)
		}
		for _, f := range files {
			_, err := t.Store.Stat(ctx, f.name)
			switch {
			case isNotExist(err):
				return fmt.Errorf("%s is signed (it has %s): pass --sign-key to publish %s into it", t.Store, IndexSignedPath, pd.dir)
			case err != nil:
				return err
			}
		}
	}
	return nil
}
