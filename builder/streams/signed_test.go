package streams

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/sign"
	"github.com/builder-images/builder/builder/sign/signtest"
	"github.com/builder-images/builder/internal/s3test"
)

// signer opens a throwaway key for signing, closed with the test.
func signer(t *testing.T, k signtest.Key) *sign.GPG {
	t.Helper()
	g, err := sign.Open(t.Context(), sign.Options{Key: k.SecretFile, Passphrase: []byte(k.Passphrase), Environ: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func keyring(t *testing.T, k signtest.Key) *sign.Keyring {
	t.Helper()
	kr, err := sign.LoadKeyring(k.Keyring)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// verifyWith runs Verify with a keyring and returns the problems as
// lines.
func verifyWith(t *testing.T, tr *Tree, v Verifier) []string {
	t.Helper()
	check := *tr
	check.Verifier = v
	problems, err := check.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range problems {
		out = append(out, p.String())
	}
	return out
}

// flipByte changes one byte of a tree file, inside its JSON text, and
// returns a function that puts it back.
func flipByte(t *testing.T, path string) func() {
	t.Helper()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(orig, []byte(`"format"`))
	if i < 0 {
		t.Fatalf("%s has no format field", path)
	}
	bad := bytes.Clone(orig)
	bad[i+1] = 'F'
	writeFile(t, path, bad)
	return func() { writeFile(t, path, orig) }
}

// TestSignedDirTree publishes with a key and checks the signed tree with
// builder and gpgv; one byte changed in an index fails both; a signed
// tree cannot be changed without the key; remove and prune sign again.
func TestSignedDirTree(t *testing.T) {
	ctx := context.Background()
	k := signtest.NewKey(t, "tree", "")
	tr, dir := newDirTree(t)
	tr.Signer = signer(t, k)
	split := fakeImage(t, image.TypeSplit, "one", "20260102_0304", 1, time.Time{})
	unified := fakeImage(t, image.TypeUnified, "two", "20260102_0304", 2, time.Time{})
	if _, err := tr.Publish(ctx, []string{split, unified}, false); err != nil {
		t.Fatal(err)
	}
	kr := keyring(t, k)
	if problems := verifyWith(t, tr, kr); len(problems) > 0 {
		t.Fatalf("a freshly signed tree: %v", problems)
	}
	if problems := verifyWith(t, tr, nil); len(problems) > 0 {
		t.Fatalf("without a keyring: %v", problems)
	}

	// gpgv agrees on every signature.
	p, err := tr.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gpgv := func(sig string, data ...string) bool {
		args := []string{filepath.Join(dir, sig)}
		for _, d := range data {
			args = append(args, filepath.Join(dir, d))
		}
		out, ok := k.Gpgv(t, args[0], args[1:]...)
		if !ok {
			t.Logf("gpgv %s: %s", sig, out)
		}
		return ok
	}
	for _, f := range []string{IndexPath, ProductsPath} {
		if !gpgv(f+SigExt, f) {
			t.Errorf("gpgv refused %s%s", f, SigExt)
		}
	}
	for _, f := range []string{IndexSignedPath, ProductsSignedPath} {
		if !gpgv(f) {
			t.Errorf("gpgv refused %s", f)
		}
	}
	sjson, err := os.ReadFile(filepath.Join(dir, IndexSignedPath))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(sjson, []byte(`"path": "streams/v1/images.sjson"`)) {
		t.Errorf("index.sjson does not point at images.sjson:\n%s", sjson)
	}
	nsums := 0
	for key, prod := range p.Products {
		for serial, v := range prod.Versions {
			if v.Sums == nil || v.Sums.SignedBy != k.Fingerprint {
				t.Fatalf("%s:%s: sums %+v", key, serial, v.Sums)
			}
			nsums++
			if !gpgv(v.Sums.Signature, v.Sums.Path) {
				t.Errorf("gpgv refused %s", v.Sums.Signature)
			}
			// sha256sum -c, run in images/, checks the version's files.
			data, err := os.ReadFile(filepath.Join(dir, v.Sums.Path))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
				sum, name, _ := strings.Cut(line, "  ")
				file, err := os.ReadFile(filepath.Join(dir, ImagesDir, name))
				if err != nil {
					t.Fatal(err)
				}
				if got := sha256.Sum256(file); hex.EncodeToString(got[:]) != sum {
					t.Errorf("%s: %s does not match", v.Sums.Path, name)
				}
			}
		}
	}
	if nsums != 2 {
		t.Errorf("%d signed SHA256SUMS, want 2", nsums)
	}

	// builder serve serves the signature files, the index's uncached.
	h, err := NewHandler(dir, HandlerOptions{PublicURL: &url.URL{Scheme: "https", Host: "tree.example.invalid"}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var anySums *Sums
	for _, prod := range p.Products {
		for _, v := range prod.Versions {
			anySums = v.Sums
		}
	}
	for name, ctype := range map[string]string{
		IndexSignedPath: "text/plain; charset=utf-8", ProductsPath + SigExt: "application/pgp-signature",
		anySums.Path: "text/plain; charset=utf-8", anySums.Signature: "application/pgp-signature",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/"+name, nil))
		want, _ := os.ReadFile(filepath.Join(dir, name))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != ctype || !bytes.Equal(rec.Body.Bytes(), want) {
			t.Errorf("GET /%s: %d %q", name, rec.Code, rec.Header().Get("Content-Type"))
		}
		if cached := rec.Header().Get("Cache-Control") == ""; cached != strings.HasPrefix(name, ImagesDir+"/") {
			t.Errorf("GET /%s: Cache-Control %q", name, rec.Header().Get("Cache-Control"))
		}
	}

	// One byte changed: each index and each signed copy.
	for _, f := range []struct{ path, sig string }{
		{ProductsPath, ProductsPath + SigExt}, {IndexPath, IndexPath + SigExt},
		{ProductsSignedPath, ProductsSignedPath}, {IndexSignedPath, IndexSignedPath},
	} {
		restore := flipByte(t, filepath.Join(dir, f.path))
		problems := verifyWith(t, tr, kr)
		if !strings.Contains(strings.Join(problems, "\n"), f.sig+":") {
			t.Errorf("%s changed: verify says %v, naming no %s", f.path, problems, f.sig)
		}
		var ok bool
		if f.path == f.sig {
			ok = gpgv(f.sig)
		} else {
			ok = gpgv(f.sig, f.path)
		}
		if ok {
			t.Errorf("%s changed: gpgv accepted %s", f.path, f.sig)
		}
		restore()
	}
	// A signature removed is a problem naming it.
	sig := filepath.Join(dir, ProductsPath+SigExt)
	saved, _ := os.ReadFile(sig)
	os.Remove(sig)
	if problems := verifyWith(t, tr, kr); !strings.Contains(strings.Join(problems, "\n"), ProductsPath+SigExt+": missing") {
		t.Errorf("signature removed: %v", problems)
	}
	writeFile(t, sig, saved)
	// Another key's keyring accepts nothing.
	other := signtest.NewKey(t, "other", "")
	if problems := verifyWith(t, tr, keyring(t, other)); len(problems) != 6 {
		t.Errorf("another key's keyring: %d problems, want 6 (4 index signatures, 2 SHA256SUMS): %v", len(problems), problems)
	}

	// Without the key, a signed tree cannot change.
	unsigned := *tr
	unsigned.Signer = nil
	if err := unsigned.Remove(ctx, "busybox:two:default:x86_64"); err == nil || !strings.Contains(err.Error(), "--sign-key") {
		t.Errorf("remove without the key: %v", err)
	}
	third := fakeImage(t, image.TypeSplit, "one", "20260103_0304", 3, time.Time{})
	if _, err := unsigned.Publish(ctx, []string{third}, false); err == nil {
		t.Error("publish without the key changed a signed tree")
	}
	// With it, remove and prune sign again, and the removed version's
	// SHA256SUMS goes with its files.
	oldSums := p.Products["busybox:two:default:x86_64"].Versions["20260102_0304"].Sums
	if err := tr.Remove(ctx, "busybox:two:default:x86_64"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{oldSums.Path, oldSums.Signature} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s still there after its version was removed", f)
		}
	}
	if _, err := tr.Publish(ctx, []string{third}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Prune(ctx, 1, false); err != nil {
		t.Fatal(err)
	}
	if problems := verifyWith(t, tr, kr); len(problems) > 0 {
		t.Errorf("after remove, publish and prune: %v", problems)
	}
	if got := listed(t, tr); len(got) != 1 || got[0] != "busybox:one:default:x86_64:20260103_0304" {
		t.Errorf("after prune: %v", got)
	}

	// A new key signs everything again, with nothing else changed.
	tr.Signer = signer(t, other)
	if _, err := tr.Publish(ctx, []string{third}, false); err != nil {
		t.Fatal(err)
	}
	if problems := verifyWith(t, tr, keyring(t, other)); len(problems) > 0 {
		t.Errorf("signed again with another key: %v", problems)
	}
	if problems := verifyWith(t, tr, kr); len(problems) == 0 {
		t.Error("the old key still verifies a tree signed again with another")
	}
}

// TestVerifyUnsignedTree: a keyring given for a tree that was never
// signed fails, naming the missing files.
func TestVerifyUnsignedTree(t *testing.T) {
	k := signtest.NewKey(t, "unsigned", "")
	tr, _ := newDirTree(t)
	if _, err := tr.Publish(context.Background(), []string{fakeImage(t, image.TypeSplit, "one", "20260102_0304", 1, time.Time{})}, false); err != nil {
		t.Fatal(err)
	}
	problems := strings.Join(verifyWith(t, tr, keyring(t, k)), "\n")
	for _, want := range []string{IndexPath + SigExt + ": missing", IndexSignedPath + ": missing", ProductsPath + SigExt + ": missing", ProductsSignedPath + ": missing", "busybox:one:default:x86_64:20260102_0304: has no signed SHA256SUMS"} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems do not say %q:\n%s", want, problems)
		}
	}
	if got := verifyWith(t, tr, nil); len(got) > 0 {
		t.Errorf("an unsigned tree without a keyring: %v", got)
	}
}

// TestSignedS3Tree: the same on S3, with a passphrase-protected key.
func TestSignedS3Tree(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an S3 server")
	}
	ctx := context.Background()
	k := signtest.NewKey(t, "s3", "s3 passphrase")
	srv := s3test.Start(t)
	tr := s3Tree(t, srv, "signed")
	tr.Signer = signer(t, k)
	if _, err := tr.Publish(ctx, []string{
		fakeImage(t, image.TypeSplit, "one", "20260102_0304", 1, time.Time{}),
		fakeImage(t, image.TypeUnified, "two", "20260102_0304", 2, time.Time{}),
	}, false); err != nil {
		t.Fatal(err)
	}
	kr := keyring(t, k)
	if problems := verifyWith(t, tr, kr); len(problems) > 0 {
		t.Fatalf("signed S3 tree: %v", problems)
	}
	data, tag, err := tr.Store.ReadIndex(ctx, ProductsPath)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(data, []byte(`"format"`), []byte(`"fOrmat"`), 1)
	if err := tr.Store.WriteIndex(ctx, ProductsPath, bad, tag); err != nil {
		t.Fatal(err)
	}
	if problems := strings.Join(verifyWith(t, tr, kr), "\n"); !strings.Contains(problems, ProductsPath+SigExt+": bad signature") {
		t.Errorf("one byte changed on S3: %s", problems)
	}
	_, tag, _ = tr.Store.ReadIndex(ctx, ProductsPath)
	if err := tr.Store.WriteIndex(ctx, ProductsPath, data, tag); err != nil {
		t.Fatal(err)
	}
	if err := tr.Remove(ctx, "busybox:one:default:x86_64"); err != nil {
		t.Fatal(err)
	}
	if problems := verifyWith(t, tr, kr); len(problems) > 0 {
		t.Errorf("after remove on S3: %v", problems)
	}
}

// failingSigner signs detached signatures but fails to clearsign.
type failingSigner struct{}

func (failingSigner) Fingerprint() string { return "FAILING" }
func (failingSigner) Clearsign(context.Context, []byte) ([]byte, error) {
	return nil, errors.New("the card was pulled")
}
func (failingSigner) DetachSign(_ context.Context, data []byte) ([]byte, error) {
	return []byte("sig"), nil
}

// TestSignFailureLeavesIndex: when signing fails, the index files are
// left as they were, so the tree keeps its old, matching signatures.
func TestSignFailureLeavesIndex(t *testing.T) {
	ctx := context.Background()
	tr, dir := newDirTree(t)
	if _, err := tr.Publish(ctx, []string{fakeImage(t, image.TypeSplit, "one", "20260102_0304", 1, time.Time{})}, false); err != nil {
		t.Fatal(err)
	}
	before := map[string][]byte{}
	for _, f := range []string{IndexPath, ProductsPath} {
		before[f], _ = os.ReadFile(filepath.Join(dir, f))
	}
	tr.Signer = failingSigner{}
	_, err := tr.Publish(ctx, []string{fakeImage(t, image.TypeSplit, "one", "20260103_0304", 2, time.Time{})}, false)
	if err == nil || !strings.Contains(err.Error(), "the card was pulled") {
		t.Fatalf("publish with a failing signer: %v", err)
	}
	for f, data := range before {
		if now, _ := os.ReadFile(filepath.Join(dir, f)); !bytes.Equal(now, data) {
			t.Errorf("%s changed though signing failed", f)
		}
	}
	for _, f := range []string{IndexSignedPath, ProductsSignedPath, IndexPath + SigExt, ProductsPath + SigExt} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s written though signing failed", f)
		}
	}
}
