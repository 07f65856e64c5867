package bootstrap

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/builder-images/builder/internal/testenv"
)

// testKey makes an ed25519 signing key, quick to generate.
func testKey(t *testing.T, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

// keyringOf serializes public keys, binary or armored.
func keyringOf(t *testing.T, armored bool, keys ...*openpgp.Entity) []byte {
	t.Helper()
	var bin bytes.Buffer
	for _, k := range keys {
		if err := k.Serialize(&bin); err != nil {
			t.Fatal(err)
		}
	}
	if !armored {
		return bin.Bytes()
	}
	var out bytes.Buffer
	w, err := armor.Encode(&out, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bin.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func fingerprintsIn(t *testing.T, ring []byte) []string {
	t.Helper()
	keys, err := openpgp.ReadKeyRing(bytes.NewReader(ring))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		out = append(out, fingerprint(k))
	}
	return out
}

func TestPinKeys(t *testing.T) {
	a, b, c := testKey(t, "a"), testKey(t, "b"), testKey(t, "c")
	for _, armored := range []bool{false, true} {
		ring := keyringOf(t, armored, a, b)
		// As gpg prints it: groups of four, lower case is fine too.
		spaced := strings.ToLower(fingerprint(a)[:20] + " " + fingerprint(a)[20:])
		got, err := pinKeys(ring, "ring", []string{spaced})
		if err != nil {
			t.Fatal(err)
		}
		if fprs := fingerprintsIn(t, got); len(fprs) != 1 || fprs[0] != fingerprint(a) {
			t.Errorf("armored %v: pinned keyring holds %v, want only %s", armored, fprs, fingerprint(a))
		}
		_, err = pinKeys(ring, "https://k.example/ring", []string{fingerprint(a), fingerprint(c)})
		var ke *KeyringError
		if !errors.As(err, &ke) || len(ke.Missing) != 1 || ke.Missing[0] != fingerprint(c) ||
			!strings.Contains(err.Error(), "the keyring https://k.example/ring lacks the pinned key "+fingerprint(c)) {
			t.Errorf("armored %v, a key missing: %v", armored, err)
		}
	}
	if _, err := pinKeys([]byte("not a keyring"), "junk", []string{fingerprint(a)}); err == nil || !strings.Contains(err.Error(), "reading the keyring junk") {
		t.Errorf("junk: %v", err)
	}
}

// keyServer serves files over HTTPS on loopback with its own test CA
// (httptest's), counting requests.
func keyServer(t *testing.T, files map[string][]byte) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestPinnedKeyringFromHTTPS(t *testing.T) {
	a, b := testKey(t, "archive"), testKey(t, "other")
	srv, hits := keyServer(t, map[string][]byte{
		"/ring.asc": keyringOf(t, true, a, b),
		"/big.gpg":  bytes.Repeat([]byte{0}, maxKeyringBytes+1),
	})
	ctx := context.Background()
	work := t.TempDir()
	env := Env{HTTP: srv.Client(), WorkDir: work}
	bs := &Config{Keyring: srv.URL + "/ring.asc", KeyringFingerprints: []string{fingerprint(a)}}

	path, err := pinnedKeyring(ctx, env, bs)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != filepath.Join(work, "keyrings") {
		t.Errorf("keyring kept at %s, want in the work directory's keyrings/", path)
	}
	ring, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fprs := fingerprintsIn(t, ring); len(fprs) != 1 || fprs[0] != fingerprint(a) {
		t.Errorf("kept keyring holds %v, want only the pinned %s", fprs, fingerprint(a))
	}
	// The second bootstrap of a build finds it.
	again, err := pinnedKeyring(ctx, env, bs)
	if err != nil || again != path || hits.Load() != 1 {
		t.Errorf("second call: %s %v after %d requests, want %s from the work directory", again, err, hits.Load(), path)
	}

	for name, tt := range map[string]struct {
		env  Env
		b    *Config
		want string
	}{
		"other key pinned": {env, &Config{Keyring: srv.URL + "/ring.asc", KeyringFingerprints: []string{strings.Repeat("AB", 20)}},
			"lacks the pinned key " + strings.Repeat("AB", 20) + " (it holds only " + fingerprint(a) + ", " + fingerprint(b) + ")"},
		"not found": {env, &Config{Keyring: srv.URL + "/missing.gpg", KeyringFingerprints: []string{fingerprint(a)}}, "404 Not Found"},
		"too large": {env, &Config{Keyring: srv.URL + "/big.gpg", KeyringFingerprints: []string{fingerprint(a)}}, "larger than 4 MiB"},
		"untrusted certificate": {Env{WorkDir: work}, &Config{Keyring: srv.URL + "/ring.asc", KeyringFingerprints: []string{fingerprint(b)}},
			"certificate signed by unknown authority"},
	} {
		_, err := pinnedKeyring(ctx, tt.env, tt.b)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", name, err, tt.want)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(work, "keyrings")); len(entries) != 1 {
		t.Errorf("keyrings/ holds %d files after the failures, want the one good keyring", len(entries))
	}

	// A local keyring with fingerprints is pinned the same way; without,
	// it is passed as it is.
	local := filepath.Join(t.TempDir(), "ring.gpg")
	if err := os.WriteFile(local, keyringOf(t, false, a, b), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := pinnedKeyring(ctx, env, &Config{Keyring: local}); err != nil || p != local {
		t.Errorf("unpinned local keyring: %s %v", p, err)
	}
	p, err := pinnedKeyring(ctx, env, &Config{Keyring: local, KeyringFingerprints: []string{fingerprint(b)}})
	if err != nil {
		t.Fatal(err)
	}
	if ring, _ := os.ReadFile(p); len(fingerprintsIn(t, ring)) != 1 {
		t.Errorf("pinned local keyring %s holds %v", p, fingerprintsIn(t, ring))
	}
}

// TestPinnedKeyringReadByGpgv checks that what builder writes is a
// keyring gpgv, which debootstrap checks Release files with, accepts.
func TestPinnedKeyringReadByGpgv(t *testing.T) {
	gpgv := testenv.Command(t, "gpgv", "gpgv")
	a, b := testKey(t, "signer"), testKey(t, "bystander")
	dir := t.TempDir()
	data := filepath.Join(dir, "Release")
	if err := os.WriteFile(data, []byte("Suite: test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var sig bytes.Buffer
	if err := openpgp.DetachSign(&sig, a, strings.NewReader("Suite: test\n"), nil); err != nil {
		t.Fatal(err)
	}
	sigPath := filepath.Join(dir, "Release.gpg")
	if err := os.WriteFile(sigPath, sig.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		pin  *openpgp.Entity
		good bool
	}{{a, true}, {b, false}} {
		ring, err := pinKeys(keyringOf(t, true, a, b), "ring", []string{fingerprint(tt.pin)})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, fingerprint(tt.pin)+".gpg")
		if err := os.WriteFile(path, ring, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(gpgv, "--status-fd", "1", "--keyring", path, sigPath, data).CombinedOutput()
		valid := bytes.Contains(out, []byte("[GNUPG:] VALIDSIG "+fingerprint(a)))
		if valid != tt.good || (err == nil) != tt.good {
			t.Errorf("keyring pinned to %s: gpgv %v, valid signature %v, want %v:\n%s", tt.pin.PrimaryIdentity().Name, err, valid, tt.good, out)
		}
	}
}

// TestPinnedKeyringOfDebianArchive pins the real archive keyring of the
// build host, where there is one: go-crypto must read it, and gpgv must
// check apt's own copy of the Release file with the result.
func TestPinnedKeyringOfDebianArchive(t *testing.T) {
	const full = "/usr/share/keyrings/debian-archive-keyring.gpg"
	automatic, _ := filepath.Glob("/usr/share/keyrings/debian-archive-*-automatic.gpg")
	if _, err := os.Stat(full); err != nil || len(automatic) == 0 {
		t.Skip("no Debian archive keyring here (debian-archive-keyring)")
	}
	var pins []string
	for _, f := range automatic {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pins = append(pins, fingerprintsIn(t, b)...)
	}
	data, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := pinKeys(data, full, pins)
	if err != nil {
		t.Fatal(err)
	}
	if got := fingerprintsIn(t, ring); len(got) != len(pins) {
		t.Errorf("pinned %d keys, the keyring written holds %v", len(pins), got)
	}
	releases, _ := filepath.Glob("/var/lib/apt/lists/*debian_dists_*_InRelease")
	gpgv, err := exec.LookPath("gpgv")
	if len(releases) == 0 || err != nil {
		t.Log("no apt InRelease file or gpgv here; the keyring was read, not used")
		return
	}
	path := filepath.Join(t.TempDir(), "debian.gpg")
	if err := os.WriteFile(path, ring, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(gpgv, "--status-fd", "1", "--keyring", path, releases[0]).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("VALIDSIG")) {
		t.Errorf("gpgv %s with the pinned automatic keys: %v\n%s", releases[0], err, out)
	}
}
