package streams

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/sign/signtest"
)

// twoFacedStore is a tree whose server answers the first read of some
// index files with one content and every later read with another, as a
// hostile S3 endpoint or mirror can (or a writer racing a directory
// tree's reader).
type twoFacedStore struct {
	Store
	mu    sync.Mutex
	first map[string][]byte // served once, then forgotten
	later map[string][]byte // served after the first read
}

func (s *twoFacedStore) ReadIndex(ctx context.Context, name string) ([]byte, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.first[name]; ok {
		delete(s.first, name)
		return d, "first", nil
	}
	if d, ok := s.later[name]; ok {
		return d, "later", nil
	}
	return s.Store.ReadIndex(ctx, name)
}

// TestVerifyTwoFacedTree: an attacker who controls the tree changes one
// byte of an image file and serves an images.json and a SHA256SUMS that
// match the changed file on the first read and the genuine, signed ones
// on later reads. Verify must check the signatures over the very bytes
// it checks the files against, so it fails.
func TestVerifyTwoFacedTree(t *testing.T) {
	ctx := context.Background()
	k := signtest.NewKey(t, "twofaced", "")
	tr, dir := newDirTree(t)
	tr.Signer = signer(t, k)
	if _, err := tr.Publish(ctx, []string{fakeImage(t, image.TypeUnified, "two", "20260102_0304", 2, time.Time{})}, false); err != nil {
		t.Fatal(err)
	}
	kr := keyring(t, k)
	if problems := verifyWith(t, tr, kr); len(problems) > 0 {
		t.Fatalf("a freshly signed tree: %v", problems)
	}
	genuine, err := os.ReadFile(filepath.Join(dir, ProductsPath))
	if err != nil {
		t.Fatal(err)
	}
	p, err := parseProducts(genuine, ProductsPath)
	if err != nil {
		t.Fatal(err)
	}
	v := p.Products["busybox:two:default:x86_64"].Versions["20260102_0304"]
	var file, oldSum string
	for _, it := range v.Items {
		file, oldSum = it.Path, it.SHA256
	}
	oldSums, _, err := tr.Store.ReadIndex(ctx, v.Sums.Path)
	if err != nil {
		t.Fatal(err)
	}
	oldSig, _, err := tr.Store.ReadIndex(ctx, v.Sums.Signature)
	if err != nil {
		t.Fatal(err)
	}

	// The attack: one byte of the image file changed (same size), its
	// new sha256 everywhere images.json had the old one, and a
	// SHA256SUMS listing it under a new name whose "signature" is the
	// genuine one.
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	sum := sha256.Sum256(data)
	newSum := hex.EncodeToString(sum[:])
	// Files are named by their sha256: the changed one goes beside.
	writeFile(t, filepath.Join(dir, strings.ReplaceAll(file, oldSum, newSum)), data)
	evil, err := parseProducts(bytes.ReplaceAll(genuine, []byte(oldSum), []byte(newSum)), "evil")
	if err != nil {
		t.Fatal(err)
	}
	ev := evil.Products["busybox:two:default:x86_64"].Versions["20260102_0304"]
	evilSums, evilPath := sumsFor(ev)
	ev.Sums = &Sums{Path: evilPath, Signature: evilPath + SigExt, SignedBy: k.Fingerprint}
	evilJSON, err := marshalJSON(evil)
	if err != nil {
		t.Fatal(err)
	}
	attacked := *tr
	attacked.Store = &twoFacedStore{
		Store: tr.Store,
		first: map[string][]byte{ProductsPath: evilJSON, evilPath: evilSums},
		later: map[string][]byte{evilPath: oldSums, evilPath + SigExt: oldSig},
	}
	problems := strings.Join(verifyWith(t, &attacked, kr), "\n")
	if problems == "" {
		t.Fatal("verify --keyring passed a tree whose image file was changed")
	}
	for _, want := range []string{ProductsPath + SigExt + ": bad signature", evilPath + SigExt + ": bad signature"} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems do not say %q:\n%s", want, problems)
		}
	}
}

// TestVerifyEmptyTreeWithKeyring: with a keyring, a tree without an
// index (a wrong path or prefix, or an attacker who emptied it) has no
// signature to check, and that is a problem, not "0 images verified".
func TestVerifyEmptyTreeWithKeyring(t *testing.T) {
	k := signtest.NewKey(t, "empty", "")
	tr, _ := newDirTree(t)
	problems := strings.Join(verifyWith(t, tr, keyring(t, k)), "\n")
	for _, want := range []string{IndexPath + ": missing", ProductsPath + ": missing"} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems do not say %q:\n%s", want, problems)
		}
	}
	if got := verifyWith(t, tr, nil); len(got) > 0 {
		t.Errorf("an empty tree without a keyring: %v", got)
	}
}

// TestVerifyOldSignedTree shows what the README says verify does not
// check: freshness. A copy of the tree as an older publish left it, its
// files with it, verifies as well as the current one.
func TestVerifyOldSignedTree(t *testing.T) {
	ctx := context.Background()
	k := signtest.NewKey(t, "old", "")
	tr, dir := newDirTree(t)
	tr.Signer = signer(t, k)
	if _, err := tr.Publish(ctx, []string{fakeImage(t, image.TypeSplit, "one", "20260102_0304", 1, time.Time{})}, false); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(t.TempDir(), "old")
	if err := os.CopyFS(old, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Publish(ctx, []string{fakeImage(t, image.TypeSplit, "one", "20260103_0304", 2, time.Time{})}, false); err != nil {
		t.Fatal(err)
	}
	s, err := NewDirStore(old, false)
	if err != nil {
		t.Fatal(err)
	}
	if problems := verifyWith(t, &Tree{Store: s}, keyring(t, k)); len(problems) > 0 {
		t.Errorf("the older signed tree: %v", problems)
	}
}

// TestSignRepairsStaleSignatures: a publish that failed between writing
// images.json and its signature (or a SHA256SUMS signature lost) leaves
// stale signatures; tree sign with the same key makes them good again,
// though no image and no key changed.
func TestSignRepairsStaleSignatures(t *testing.T) {
	ctx := context.Background()
	k := signtest.NewKey(t, "repair", "")
	tr, dir := newDirTree(t)
	tr.Signer = signer(t, k)
	if _, err := tr.Publish(ctx, []string{fakeImage(t, image.TypeSplit, "one", "20260102_0304", 1, time.Time{})}, false); err != nil {
		t.Fatal(err)
	}
	oldSig, err := os.ReadFile(filepath.Join(dir, ProductsPath+SigExt))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Publish(ctx, []string{fakeImage(t, image.TypeSplit, "one", "20260103_0304", 2, time.Time{})}, false); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, ProductsPath+SigExt), oldSig)
	p, err := tr.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sums := p.Products["busybox:one:default:x86_64"].Versions["20260103_0304"].Sums
	if err := os.Remove(filepath.Join(dir, sums.Signature)); err != nil {
		t.Fatal(err)
	}
	kr := keyring(t, k)
	problems := strings.Join(verifyWith(t, tr, kr), "\n")
	for _, want := range []string{ProductsPath + SigExt + ": bad signature", sums.Signature + ": missing"} {
		if !strings.Contains(problems, want) {
			t.Fatalf("the stale tree's problems do not say %q:\n%s", want, problems)
		}
	}
	if err := tr.Sign(ctx); err != nil {
		t.Fatal(err)
	}
	if problems := verifyWith(t, tr, kr); len(problems) > 0 {
		t.Errorf("after tree sign: %v", problems)
	}
	if got := listed(t, tr); len(got) != 2 {
		t.Errorf("tree sign changed the images: %v", got)
	}
}

// TestUnsignedPublishUploadsNothing: publishing without the key into a
// signed tree is refused before any file is uploaded, so nothing is left
// behind that no version refers to; publishing what is there already
// changes nothing and succeeds.
func TestUnsignedPublishUploadsNothing(t *testing.T) {
	ctx := context.Background()
	k := signtest.NewKey(t, "nokey", "")
	tr, dir := newDirTree(t)
	tr.Signer = signer(t, k)
	first := fakeImage(t, image.TypeSplit, "one", "20260102_0304", 1, time.Time{})
	withSBOM(t, first)
	if _, err := tr.Publish(ctx, []string{first}, false); err != nil {
		t.Fatal(err)
	}
	files := func() []string {
		entries, err := os.ReadDir(filepath.Join(dir, ImagesDir))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	before := strings.Join(files(), " ")
	unsigned := *tr
	unsigned.Signer = nil
	if _, err := unsigned.Publish(ctx, []string{fakeImage(t, image.TypeSplit, "one", "20260103_0304", 2, time.Time{})}, false); err == nil || !strings.Contains(err.Error(), "--sign-key") {
		t.Errorf("publish without the key: %v", err)
	}
	if after := strings.Join(files(), " "); after != before {
		t.Errorf("images/ changed though the publish was refused:\nbefore %s\nafter  %s", before, after)
	}
	res, err := unsigned.Publish(ctx, []string{first}, false)
	if err != nil || len(res) != 1 || res[0].Status != "unchanged" {
		t.Errorf("the same image again without the key: %+v, %v", res, err)
	}
	if problems := verifyWith(t, tr, keyring(t, k)); len(problems) > 0 {
		t.Errorf("verify: %v", problems)
	}
}
