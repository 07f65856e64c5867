package streams

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/sign/signtest"
)

// withSBOM gives an output directory an sbom.spdx.json recorded in its
// image.json, as builder build writes them.
func withSBOM(t *testing.T, dir string) []byte {
	t.Helper()
	data := []byte(`{"spdxVersion": "SPDX-2.3", "name": "` + dir + `"}` + "\n")
	writeFile(t, filepath.Join(dir, image.SBOMName), data)
	j, err := image.ReadImageJSON(dir)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	j.SBOM = &image.Document{Name: image.SBOMName, Format: "spdx-2.3+json", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}
	if err := image.WriteImageJSON(dir, j); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSignedTreeSBOM: publish puts each image's SBOM into the tree,
// named by its sha256 and recorded in the version's builder record; the
// version's SHA256SUMS lists it, so its signature (gpgv) vouches for it;
// verify checks it; it goes with its version.
func TestSignedTreeSBOM(t *testing.T) {
	ctx := context.Background()
	k := signtest.NewKey(t, "sbom", "")
	tr, dir := newDirTree(t)
	tr.Signer = signer(t, k)
	withOne := fakeImage(t, image.TypeSplit, "one", "20260102_0304", 1, time.Time{})
	sbom := withSBOM(t, withOne)
	without := fakeImage(t, image.TypeUnified, "two", "20260102_0304", 2, time.Time{})
	if _, err := tr.Publish(ctx, []string{withOne, without}, false); err != nil {
		t.Fatal(err)
	}
	p, err := tr.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := p.Products["busybox:one:default:x86_64"].Versions["20260102_0304"]
	f := v.Builder.SBOM
	sum := sha256.Sum256(sbom)
	if f == nil || f.Path != ImagesDir+"/"+hex.EncodeToString(sum[:])+".spdx.json" || f.Size != int64(len(sbom)) {
		t.Fatalf("the version's SBOM: %+v", f)
	}
	if got, err := os.ReadFile(filepath.Join(dir, f.Path)); err != nil || !bytes.Equal(got, sbom) {
		t.Fatalf("%s in the tree: %q, %v", f.Path, got, err)
	}
	if v2 := p.Products["busybox:two:default:x86_64"].Versions["20260102_0304"]; v2.Builder.SBOM != nil {
		t.Errorf("an output without an SBOM has one in the tree: %+v", v2.Builder.SBOM)
	}
	sums, err := os.ReadFile(filepath.Join(dir, v.Sums.Path))
	if err != nil {
		t.Fatal(err)
	}
	if line := f.SHA256 + "  " + strings.TrimPrefix(f.Path, ImagesDir+"/") + "\n"; !strings.Contains(string(sums), line) {
		t.Errorf("%s does not list the SBOM (%q):\n%s", v.Sums.Path, line, sums)
	}
	if out, ok := k.Gpgv(t, filepath.Join(dir, v.Sums.Signature), filepath.Join(dir, v.Sums.Path)); !ok {
		t.Errorf("gpgv refused %s: %s", v.Sums.Signature, out)
	}
	kr := keyring(t, k)
	if problems := verifyWith(t, tr, kr); len(problems) > 0 {
		t.Fatalf("verify: %v", problems)
	}

	// One byte of the SBOM changed: verify names it, keyring or not.
	bad := bytes.Clone(sbom)
	bad[3] ^= 1
	writeFile(t, filepath.Join(dir, f.Path), bad)
	for _, v := range []Verifier{nil, kr} {
		if problems := strings.Join(verifyWith(t, tr, v), "\n"); !strings.Contains(problems, f.Path+": sha256") {
			t.Errorf("SBOM changed: verify says %q", problems)
		}
	}
	writeFile(t, filepath.Join(dir, f.Path), sbom)

	// Removed with its version.
	if err := tr.Remove(ctx, "busybox:one:default:x86_64"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, f.Path)); !os.IsNotExist(err) {
		t.Errorf("%s still there after its version was removed: %v", f.Path, err)
	}
	if problems := verifyWith(t, tr, kr); len(problems) > 0 {
		t.Errorf("after remove: %v", problems)
	}

	// An unsigned tree gets the SBOM as well.
	plain, pdir := newDirTree(t)
	if _, err := plain.Publish(ctx, []string{withOne}, false); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(pdir, f.Path)); err != nil || !bytes.Equal(got, sbom) {
		t.Errorf("%s in an unsigned tree: %q, %v", f.Path, got, err)
	}
	if problems := verifyWith(t, plain, nil); len(problems) > 0 {
		t.Errorf("the unsigned tree: %v", problems)
	}
}
