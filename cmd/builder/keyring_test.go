package main

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/builder-images/builder/internal/testenv"
)

// debianArchiveKeys reads the host's Debian archive keyring and the
// fingerprints of its automatic signing keys, which sign the suites'
// Release files, with those of their subkeys, which gpgv names.
func debianArchiveKeys(t *testing.T) (ring []byte, automatic, signers []string) {
	t.Helper()
	ring, err := os.ReadFile("/usr/share/keyrings/debian-archive-keyring.gpg")
	testenv.Need(t, err == nil, "needs Debian's archive keyring (debian-archive-keyring)")
	files, _ := filepath.Glob("/usr/share/keyrings/debian-archive-*-automatic.gpg")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := openpgp.ReadKeyRing(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, k := range keys {
			automatic = append(automatic, strings.ToUpper(hex.EncodeToString(k.PrimaryKey.Fingerprint)))
			signers = append(signers, automatic[len(automatic)-1])
			for _, sub := range k.Subkeys {
				signers = append(signers, strings.ToUpper(hex.EncodeToString(sub.PublicKey.Fingerprint)))
			}
		}
	}
	testenv.Need(t, len(automatic) > 0, "needs Debian's automatic archive keys (debian-archive-keyring)")
	return ring, automatic, signers
}

// keyringServer serves the keyring over HTTPS on loopback with a
// certificate of the test CA, which builder trusts through SSL_CERT_FILE
// like any system authority.
func keyringServer(t *testing.T, ring []byte) (url string, env []string) {
	t.Helper()
	dir := t.TempDir()
	caFile, certFile, keyFile := testCA(t, dir)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debian-archive-keyring.gpg" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(ring)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL + "/debian-archive-keyring.gpg", []string{"SSL_CERT_FILE=" + caFile}
}

func keyringRecipe(t *testing.T, url string, fingerprints []string, extraArgs string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyring.hcl")
	writeFile(t, path, `image {
  distribution = "debian"
  release      = "bookworm"
  architecture = "amd64"
}

bootstrap "debootstrap" {
  variant              = "minbase"
  keyring              = "`+url+`"
  keyring_fingerprints = ["`+strings.Join(fingerprints, `", "`)+`"]
  extra_args           = [`+extraArgs+`]
}
`)
	return path
}

// TestKeyringFromURL bootstraps Debian with its archive keyring fetched
// over HTTPS from a loopback server with a test CA and pinned to the
// automatic signing keys: debootstrap checks the real Release file with
// the keyring builder wrote into the work directory (below /tmp, which
// the tool's view must still show). A pinned key the file lacks stops
// the build before debootstrap runs.
//
// It runs in parallel with the other bootstraps (see
// TestForeignArchitectureImport).
func TestKeyringFromURL(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	testenv.Command(t, "debootstrap", "debootstrap")
	ring, automatic, signers := debianArchiveKeys(t)
	url, env := keyringServer(t, ring)
	cache := []string{"--cache-dir", t.TempDir()}

	missing := strings.Repeat("0123456789", 4)
	dir := filepath.Join(t.TempDir(), "rootfs")
	_, stderr, status := builderExec(t, env, append([]string{"rootfs", keyringRecipe(t, url, []string{missing}, ""), dir}, cache...)...)
	if status != exitFailure || !strings.Contains(stderr, "lacks the pinned key "+missing) {
		t.Errorf("a pinned key the keyring lacks: exit %d\n%s", status, stderr)
	}
	if strings.Contains(stderr, "[debootstrap]") {
		t.Errorf("debootstrap ran with a keyring that failed its pin:\n%s", stderr)
	}

	// Without the test CA, the server is not trusted.
	_, stderr, status = builderExec(t, []string{"SSL_CERT_FILE=/dev/null"}, append([]string{"rootfs", keyringRecipe(t, url, automatic, ""), dir}, cache...)...)
	if status != exitFailure || !strings.Contains(stderr, "certificate") {
		t.Errorf("an untrusted server: exit %d\n%s", status, stderr)
	}

	if testing.Short() {
		t.Skip("the rest runs debootstrap against the distribution's mirror")
	}
	// The tool is given the pinned keys only: a key of the keyring that
	// does not sign bookworm (bullseye's release key) is not enough.
	if stable, err := os.ReadFile("/usr/share/keyrings/debian-archive-bullseye-stable.gpg"); err == nil {
		keys, err := openpgp.ReadKeyRing(bytes.NewReader(stable))
		if err != nil {
			t.Fatal(err)
		}
		other := strings.ToUpper(hex.EncodeToString(keys[0].PrimaryKey.Fingerprint))
		_, stderr, status = builderExec(t, env, append([]string{"rootfs", keyringRecipe(t, url, []string{other}, `"--foreign"`), dir}, cache...)...)
		if status != exitFailure || !strings.Contains(stderr, "Release signed by unknown key") {
			t.Errorf("pinned to a key that does not sign the suite: exit %d\n%s", status, stderr)
		}
	}
	// The first stage only (--foreign): debootstrap checks the Release
	// file's signature, downloads, checks and unpacks the packages; the
	// second stage has nothing to do with the keyring.
	stdout, stderr, status := builderExec(t, env, append([]string{"rootfs", keyringRecipe(t, url, automatic, `"--foreign"`), dir}, cache...)...)
	out := stdout + stderr
	if status != 0 || !strings.Contains(out, "Valid Release signature (key id ") {
		t.Fatalf("bootstrap with a fetched keyring: exit %d\n%s", status, out)
	}
	signer := out[strings.Index(out, "Valid Release signature (key id ")+len("Valid Release signature (key id "):]
	signer = signer[:strings.Index(signer, ")")]
	if !slices.Contains(signers, signer) {
		t.Errorf("the Release file was checked with key %s, not one of the pinned keys %v or their subkeys", signer, automatic)
	}
}
