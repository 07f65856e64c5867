package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/sign"
	"github.com/builder-images/builder/builder/sign/signtest"
	"github.com/builder-images/builder/internal/s3test"
)

// TestSignedPublish publishes a built busybox image with --sign-key (a
// key file with a passphrase, as a CI secret would be) into a directory
// and an S3 tree; tree verify --keyring and gpgv accept the trees, and
// both refuse one byte changed in an index. Neither the key nor the
// passphrase is ever printed.
func TestSignedPublish(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	runBuilder(t, []string{"SOURCE_DATE_EPOCH=1767225600"}, "build", "recipes/busybox.hcl", "-o", out)
	j := readImageJSON(t, out)

	const passphrase = "tr0ub4dor and 3 more words"
	k := signtest.NewKey(t, "publisher", passphrase)
	passFile := filepath.Join(tmp, "passphrase")
	if err := os.WriteFile(passFile, []byte(passphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret, err := os.ReadFile(k.SecretFile)
	if err != nil {
		t.Fatal(err)
	}
	// Lines of the armoured key's body: none may show up anywhere.
	var keyLines []string
	for _, l := range strings.Split(string(secret), "\n") {
		if len(l) > 20 && !strings.HasPrefix(l, "-----") {
			keyLines = append(keyLines, l)
		}
	}
	noSecrets := func(what, output string) {
		t.Helper()
		if strings.Contains(output, passphrase) {
			t.Errorf("%s printed the passphrase:\n%s", what, output)
		}
		for _, l := range keyLines {
			if strings.Contains(output, l) {
				t.Errorf("%s printed the secret key:\n%s", what, output)
				break
			}
		}
	}

	tree := filepath.Join(tmp, "tree")
	got := runBuilder(t, nil, "publish", tree, out, "--sign-key", k.SecretFile, "--sign-passphrase-file", passFile)
	noSecrets("publish", got)
	if !strings.Contains(got, "signed busybox:") {
		t.Errorf("publish --sign-key said:\n%s", got)
	}
	verify := func(env []string, target, keyring string) (string, int) {
		t.Helper()
		o, code := runBuilderCode(t, env, "tree", "verify", target, "--keyring", keyring)
		noSecrets("tree verify", o)
		return o, code
	}
	if o, code := verify(nil, tree, k.Keyring); code != 0 || !strings.Contains(o, "1 images verified, signatures good") {
		t.Fatalf("tree verify --keyring: exit %d\n%s", code, o)
	}
	gpgv := func(sig string, data ...string) bool {
		var files []string
		for _, d := range data {
			files = append(files, filepath.Join(tree, d))
		}
		o, ok := k.Gpgv(t, filepath.Join(tree, sig), files...)
		if !ok {
			t.Logf("gpgv %s: %s", sig, o)
		}
		return ok
	}
	for _, f := range []string{"streams/v1/index.json", "streams/v1/images.json"} {
		if !gpgv(f+".gpg", f) {
			t.Errorf("gpgv refused %s.gpg", f)
		}
		if s := strings.TrimSuffix(f, ".json") + ".sjson"; !gpgv(s) {
			t.Errorf("gpgv refused %s", s)
		}
	}
	sums, _ := filepath.Glob(filepath.Join(tree, "images", "*.SHA256SUMS"))
	if len(sums) != 1 {
		t.Fatalf("SHA256SUMS files: %v", sums)
	}
	rel, _ := filepath.Rel(tree, sums[0])
	if !gpgv(rel+".gpg", rel) {
		t.Error("gpgv refused the version's SHA256SUMS signature")
	}
	// As the README says: sha256sum -c, run in images/, checks them.
	check := exec.Command("sha256sum", "-c", "--strict", filepath.Base(sums[0]))
	check.Dir = filepath.Dir(sums[0])
	if o, err := check.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c %s: %v\n%s", filepath.Base(sums[0]), err, o)
	}
	listing, _ := os.ReadFile(sums[0])
	for _, f := range j.Files {
		if !bytes.Contains(listing, []byte(f.SHA256)) {
			t.Errorf("SHA256SUMS does not list %s:\n%s", f.Name, listing)
		}
	}
	// The build's SBOM went into the tree beside the files, and the
	// signed SHA256SUMS (which sha256sum -c just checked) lists it.
	full, err := image.ReadImageJSON(out)
	if err != nil {
		t.Fatal(err)
	}
	if full.SBOM == nil {
		t.Fatal("the build wrote no SBOM")
	}
	if !bytes.Contains(listing, []byte(full.SBOM.SHA256+"  "+full.SBOM.SHA256+".spdx.json\n")) {
		t.Errorf("SHA256SUMS does not list the SBOM %s:\n%s", full.SBOM.SHA256, listing)
	}

	// One byte of images.json changed: builder and gpgv both refuse it.
	index := filepath.Join(tree, "streams/v1/images.json")
	orig, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(orig)
	bad[bytes.Index(bad, []byte(j.Fingerprint))] ^= 1
	if err := os.WriteFile(index, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if o, code := verify(nil, tree, k.Keyring); code != 1 || !strings.Contains(o, "streams/v1/images.json.gpg: bad signature") {
		t.Errorf("tree verify of a changed images.json: exit %d\n%s", code, o)
	}
	if gpgv("streams/v1/images.json.gpg", "streams/v1/images.json") {
		t.Error("gpgv accepted a changed images.json")
	}
	if err := os.WriteFile(index, orig, 0o644); err != nil {
		t.Fatal(err)
	}

	// A signed tree is not changed without the key.
	if o, code := runBuilderCode(t, nil, "tree", "remove", tree, j.Fingerprint); code != 1 || !strings.Contains(o, "--sign-key") {
		t.Errorf("tree remove without the key: exit %d\n%s", code, o)
	}
	// An unsigned tree fails verify --keyring, naming what is missing.
	plain := filepath.Join(tmp, "plain")
	runBuilder(t, nil, "publish", plain, out)
	if o, code := verify(nil, plain, k.Keyring); code != 1 || !strings.Contains(o, "streams/v1/index.json.gpg: missing") {
		t.Errorf("tree verify --keyring of an unsigned tree: exit %d\n%s", code, o)
	}
	// tree sign signs it, with the key taken from a GnuPG home by its
	// fingerprint and the passphrase from the environment.
	env := []string{"GNUPGHOME=" + k.Home, sign.PassphraseEnv + "=" + passphrase}
	o, code := runBuilderCode(t, env, "tree", "sign", plain, "--sign-key", k.Fingerprint)
	noSecrets("tree sign", o)
	if code != 0 {
		t.Fatalf("tree sign: exit %d\n%s", code, o)
	}
	if o, code := verify(nil, plain, k.ArmoredKeyring); code != 0 {
		t.Errorf("tree verify after tree sign: exit %d\n%s", code, o)
	}

	// An S3 tree, the passphrase from the environment.
	if testing.Short() {
		return
	}
	srv := s3test.Start(t)
	s3env := append(srv.Env(), sign.PassphraseEnv+"="+passphrase)
	target := "s3://" + srv.Bucket + "/signed"
	o, code = runBuilderCode(t, s3env, "publish", target, out, "--sign-key", k.SecretFile)
	noSecrets("publish to S3", o)
	if code != 0 {
		t.Fatalf("publish --sign-key to S3: exit %d\n%s", code, o)
	}
	if o, code := verify(s3env, target, k.Keyring); code != 0 {
		t.Errorf("tree verify --keyring of the S3 tree: exit %d\n%s", code, o)
	}
	if o, code := runBuilderCode(t, s3env, "tree", "remove", target, j.Fingerprint, "--sign-key", k.SecretFile); code != 0 {
		t.Errorf("tree remove --sign-key on S3: exit %d\n%s", code, o)
	}
	if o, code := verify(s3env, target, k.Keyring); code != 0 {
		t.Errorf("tree verify --keyring after remove: exit %d\n%s", code, o)
	}
}

// TestSignKeyFlags: the key itself passed as the flag's value is refused
// without being echoed; a passphrase file needs a key.
func TestSignKeyFlags(t *testing.T) {
	tree := t.TempDir()
	const fakeKey = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQdGBGabcdefSECRETBODY\n-----END PGP PRIVATE KEY BLOCK-----"
	o, code := runBuilderCode(t, nil, "tree", "sign", tree, "--sign-key", fakeKey)
	if code != 1 || !strings.Contains(o, "not the key itself") || strings.Contains(o, "SECRETBODY") {
		t.Errorf("the key as the flag's value: exit %d\n%s", code, o)
	}
	if o, code := runBuilderCode(t, nil, "tree", "prune", tree, "--sign-passphrase-file", "/nonexistent"); code != 2 {
		t.Errorf("--sign-passphrase-file without --sign-key: exit %d\n%s", code, o)
	}
	if o, code := runBuilderCode(t, nil, "tree", "sign", tree); code != 2 {
		t.Errorf("tree sign without --sign-key: exit %d\n%s", code, o)
	}
}
