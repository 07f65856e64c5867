// Package signtest makes throwaway OpenPGP keys for tests, with gpg in a
// private GnuPG home that is removed (its agent stopped) when the test
// ends.
package signtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/internal/testenv"
)

// Key is a throwaway signing key and the files a test hands around.
type Key struct {
	// Home is the GnuPG home holding the secret key.
	Home string
	// Fingerprint is the primary key's, upper-case hex.
	Fingerprint string
	// SecretFile is the armoured secret key (mode 0600), as a CI secret
	// holds it.
	SecretFile string
	// Keyring is the public key, binary, as gpgv takes it; ArmoredKeyring
	// the same armoured.
	Keyring, ArmoredKeyring string
	// Passphrase protects the secret key; "" for none.
	Passphrase string
}

// NewKey makes an ed25519 signing key with user ID name, protected by
// passphrase unless it is "". It needs gpg (skips or fails without).
func NewKey(t testing.TB, name, passphrase string) Key {
	t.Helper()
	testenv.Command(t, "gpg", "gpg")
	testenv.Command(t, "gpgconf", "gpgconf")
	// Not t.TempDir: the agent's socket path must stay under 108 bytes,
	// and a long test name would push it over.
	home, err := os.MkdirTemp("", "signtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, args := range [][]string{{"--kill", "gpg-agent"}, {"--remove-socketdir"}} {
			_ = exec.Command("gpgconf", append([]string{"--homedir", home}, args...)...).Run()
		}
		_ = os.RemoveAll(home)
	})
	gpg := func(args ...string) []byte {
		t.Helper()
		all := append([]string{"--homedir", filepath.Join(home, "gnupg"), "--batch", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", passphrase}, args...)
		cmd := exec.Command("gpg", all...)
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		out, err := cmd.Output()
		if err != nil {
			msg := ""
			if ee, ok := err.(*exec.ExitError); ok {
				msg = string(ee.Stderr)
			}
			t.Fatalf("gpg %s: %v: %s", args[0], err, msg)
		}
		return out
	}
	if err := os.Mkdir(filepath.Join(home, "gnupg"), 0o700); err != nil {
		t.Fatal(err)
	}
	// The fewest passphrase hash rounds: by default the agent calibrates
	// them to take 100 ms on an idle machine, seconds on a busy one, for
	// every protect and unlock. A throwaway key needs no such strength.
	if err := os.WriteFile(filepath.Join(home, "gnupg", "gpg-agent.conf"), []byte("s2k-count 65536\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	uid := name + " <" + name + "@example.invalid>"
	gpg("--quick-gen-key", uid, "ed25519", "sign", "never")
	k := Key{Home: filepath.Join(home, "gnupg"), Passphrase: passphrase}
	for _, line := range strings.Split(string(gpg("--with-colons", "--list-secret-keys", uid)), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" && len(f) > 9 && k.Fingerprint == "" {
			k.Fingerprint = f[9]
		}
	}
	if k.Fingerprint == "" {
		t.Fatal("gpg made no key")
	}
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(home, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	k.SecretFile = write("secret.asc", gpg("--armor", "--export-secret-keys", k.Fingerprint), 0o600)
	k.Keyring = write("keyring.gpg", gpg("--export", k.Fingerprint), 0o644)
	k.ArmoredKeyring = write("keyring.asc", gpg("--armor", "--export", k.Fingerprint), 0o644)
	return k
}

// Gpgv runs gpgv with the key's binary keyring on a detached signature
// (sig, data) or a clearsigned file (sig alone); it returns gpgv's
// output and whether it accepted the signature.
func (k Key) Gpgv(t testing.TB, sig string, data ...string) (string, bool) {
	t.Helper()
	testenv.Command(t, "gpgv", "gpgv")
	cmd := exec.Command("gpgv", append([]string{"--keyring", k.Keyring, sig}, data...)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}
