package sign_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/sign"
	"github.com/builder-images/builder/builder/sign/signtest"
)

// TestSignAndVerify signs with a key file, with and without a
// passphrase, and checks each signature with builder's Keyring and gpgv;
// a byte changed fails both.
func TestSignAndVerify(t *testing.T) {
	for _, pass := range []string{"", "correct horse battery"} {
		name := "nopass"
		if pass != "" {
			name = "passphrase"
		}
		t.Run(name, func(t *testing.T) {
			k := signtest.NewKey(t, "signer", pass)
			var pp []byte
			if pass != "" {
				pp = []byte(pass)
			}
			g, err := sign.Open(t.Context(), sign.Options{Key: k.SecretFile, Passphrase: pp, Environ: os.Environ()})
			if err != nil {
				t.Fatal(err)
			}
			home := sign.HomeOf(g)
			if g.Fingerprint() != k.Fingerprint {
				t.Errorf("fingerprint %s, want %s", g.Fingerprint(), k.Fingerprint)
			}
			data := []byte("{\n  \"format\": \"index:1.0\"\n}\n")
			det, err := g.DetachSign(t.Context(), data)
			if err != nil {
				t.Fatal(err)
			}
			clear, err := g.Clearsign(t.Context(), data)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(clear, []byte("\nHash: SHA512\n")) {
				t.Errorf("not a SHA-512 signature:\n%s", clear)
			}
			if len(agentsFor(home)) == 0 {
				t.Errorf("no gpg-agent for %s while signing: the check below would prove nothing", home)
			}
			if err := g.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(home); !os.IsNotExist(err) {
				t.Errorf("the private GnuPG home %s is still there after Close: %v", home, err)
			}
			pids := agentsFor(home)
			for i := 0; i < 20 && len(pids) > 0; i++ {
				// Its socket is gone; the process may take a moment more.
				time.Sleep(50 * time.Millisecond)
				pids = agentsFor(home)
			}
			if len(pids) > 0 {
				t.Errorf("gpg-agent for %s still runs after Close: pids %v", home, pids)
			}

			for _, ring := range []string{k.Keyring, k.ArmoredKeyring} {
				kr, err := sign.LoadKeyring(ring)
				if err != nil {
					t.Fatal(err)
				}
				if fpr, err := kr.VerifyDetached(data, det); err != nil || fpr != k.Fingerprint {
					t.Errorf("%s: detached: %s, %v", ring, fpr, err)
				}
				text, fpr, err := kr.VerifyClearsigned(clear)
				if err != nil || fpr != k.Fingerprint || !bytes.Equal(bytes.TrimSpace(text), bytes.TrimSpace(data)) {
					t.Errorf("%s: clearsigned: %q, %s, %v", ring, text, fpr, err)
				}
				tampered := bytes.Replace(data, []byte("1.0"), []byte("1.1"), 1)
				if _, err := kr.VerifyDetached(tampered, det); err == nil {
					t.Error("a detached signature verified over changed data")
				}
				if _, _, err := kr.VerifyClearsigned(bytes.Replace(clear, []byte("1.0"), []byte("1.1"), 1)); err == nil {
					t.Error("a changed clearsigned message verified")
				}
				if _, _, err := kr.VerifyClearsigned(append(bytes.Clone(clear), "{\"extra\": 1}\n"...)); err == nil {
					t.Error("a clearsigned message with text after it verified")
				}
			}

			dir := t.TempDir()
			write := func(name string, b []byte) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			dataFile, sigFile, clearFile := write("index.json", data), write("index.json.gpg", det), write("index.sjson", clear)
			if out, ok := k.Gpgv(t, sigFile, dataFile); !ok {
				t.Errorf("gpgv refused the detached signature: %s", out)
			}
			if out, ok := k.Gpgv(t, clearFile); !ok {
				t.Errorf("gpgv refused the clearsigned file: %s", out)
			}
			write("index.json", bytes.Replace(data, []byte("1.0"), []byte("1.1"), 1))
			if out, ok := k.Gpgv(t, sigFile, dataFile); ok {
				t.Errorf("gpgv accepted a changed file: %s", out)
			}
		})
	}
}

// agentsFor returns the pids of the processes whose command line names
// home: the gpg-agent gpg started for it.
func agentsFor(home string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte("gpg-agent")) && bytes.Contains(cmdline, []byte(home)) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// TestOpenErrors: a wrong or missing passphrase, a key passed as text, a
// key ID that is not there; the key and passphrase appear in no error.
func TestOpenErrors(t *testing.T) {
	k := signtest.NewKey(t, "locked", "the passphrase")
	secret, err := os.ReadFile(k.SecretFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := []struct {
		name string
		opts sign.Options
		want string
	}{
		{"no passphrase", sign.Options{Key: k.SecretFile}, "key needs a passphrase"},
		{"wrong passphrase", sign.Options{Key: k.SecretFile, Passphrase: []byte("not the passphrase")}, "signing with key"},
		{"key as text", sign.Options{Key: string(secret)}, "not the key itself"},
		{"unknown key ID", sign.Options{Key: "0123456789ABCDEF", Environ: append(os.Environ(), "GNUPGHOME="+k.Home)}, "no secret key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.opts.Environ == nil {
				c.opts.Environ = os.Environ()
			}
			g, err := sign.Open(ctx, c.opts)
			if err == nil {
				g.Close()
				t.Fatal("opened")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not say %q", msg, c.want)
			}
			body := strings.Split(string(secret), "\n")[3]
			for _, s := range []string{"the passphrase", "not the passphrase", body} {
				if strings.Contains(msg, s) {
					t.Errorf("error %q holds a secret %q", msg, s)
				}
			}
		})
	}
}

// TestUserHome signs with a key in a GnuPG home named by its
// fingerprint, the passphrase through the pipe.
func TestUserHome(t *testing.T) {
	k := signtest.NewKey(t, "home", "pp")
	g, err := sign.Open(t.Context(), sign.Options{Key: k.Fingerprint, Passphrase: []byte("pp"), Environ: append(os.Environ(), "GNUPGHOME="+k.Home)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	sig, err := g.DetachSign(t.Context(), []byte("x\n"))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := sign.LoadKeyring(k.Keyring)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.VerifyDetached([]byte("x\n"), sig); err != nil {
		t.Error(err)
	}
	other := signtest.NewKey(t, "other", "")
	okr, err := sign.LoadKeyring(other.Keyring)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := okr.VerifyDetached([]byte("x\n"), sig); err == nil || !strings.Contains(err.Error(), "not in the keyring") {
		t.Errorf("another key's keyring: %v", err)
	}
}

func TestReadPassphrase(t *testing.T) {
	f := filepath.Join(t.TempDir(), "pp")
	if err := os.WriteFile(f, []byte("from file\nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if p, err := sign.ReadPassphrase(f, []string{sign.PassphraseEnv + "=env"}); err != nil || string(p) != "from file" {
		t.Errorf("file: %q %v", p, err)
	}
	if p, err := sign.ReadPassphrase("", []string{sign.PassphraseEnv + "=from env"}); err != nil || string(p) != "from env" {
		t.Errorf("env: %q %v", p, err)
	}
	if p, err := sign.ReadPassphrase("", nil); err != nil || p != nil {
		t.Errorf("none: %q %v", p, err)
	}
}

// TestPassphraseNotInChildEnv: the CLI hands gpg its own environment,
// where the passphrase may sit in BUILDER_SIGN_PASSPHRASE. gpg, and the
// gpg-agent it starts (which outlives it, holding the key), must not
// inherit it: a process's environment is readable in /proc, and an agent
// of the user's home lives on after builder.
func TestPassphraseNotInChildEnv(t *testing.T) {
	const pass = "env passphrase 7f3a"
	k := signtest.NewKey(t, "envpass", pass)
	environ := append(os.Environ(), sign.PassphraseEnv+"="+pass)
	p, err := sign.ReadPassphrase("", environ)
	if err != nil {
		t.Fatal(err)
	}
	g, err := sign.Open(t.Context(), sign.Options{Key: k.SecretFile, Passphrase: p, Environ: environ})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	// While it is open, the private home is the owner's alone.
	if st, err := os.Stat(sign.HomeOf(g)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("the private GnuPG home: %v, %v", st, err)
	}
	pids := agentsFor(sign.HomeOf(g))
	if len(pids) == 0 {
		t.Fatal("no gpg-agent to look at")
	}
	for _, pid := range pids {
		env, err := os.ReadFile(filepath.Join("/proc", pid, "environ"))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(env, []byte(pass)) || bytes.Contains(env, []byte(sign.PassphraseEnv)) {
			t.Errorf("gpg-agent (pid %s) has the passphrase in its environment", pid)
		}
	}
}

// TestKeyFromPipe: --sign-key <(printenv SIGNING_KEY), the key on a pipe
// named /dev/fd/N, is a key file, not a key ID.
func TestKeyFromPipe(t *testing.T) {
	k := signtest.NewKey(t, "pipe", "")
	secret, err := os.ReadFile(k.SecretFile)
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		w.Write(secret)
		w.Close()
	}()
	g, err := sign.Open(t.Context(), sign.Options{Key: fmt.Sprintf("/dev/fd/%d", r.Fd()), Environ: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.Fingerprint() != k.Fingerprint {
		t.Errorf("fingerprint %s, want %s", g.Fingerprint(), k.Fingerprint)
	}
}

// TestOpenFailureCleansUp: when Open fails after importing the key file
// (a wrong passphrase), its private GnuPG home and agent are gone too.
func TestOpenFailureCleansUp(t *testing.T) {
	k := signtest.NewKey(t, "cleanup", "right")
	// A short directory of its own (the agent's socket path is bounded),
	// so that what Open leaves behind is all there is in it.
	tmp, err := os.MkdirTemp("", "r3-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	t.Setenv("TMPDIR", tmp)
	g, err := sign.Open(t.Context(), sign.Options{Key: k.SecretFile, Passphrase: []byte("wrong"), Environ: os.Environ()})
	if err == nil {
		g.Close()
		t.Fatal("opened with a wrong passphrase")
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left behind in TMPDIR: %v", left)
	}
	pids := agentsFor(tmp)
	for i := 0; i < 20 && len(pids) > 0; i++ {
		time.Sleep(50 * time.Millisecond)
		pids = agentsFor(tmp)
	}
	if len(pids) > 0 {
		t.Errorf("gpg-agent still runs: pids %v", pids)
	}
}

// TestKeyValueNotEchoed: CI secrets often hold a key base64-encoded on
// one line; passed as --sign-key's value it is neither a file nor
// armoured text, and the error must not quote it. Nor may an error quote
// the passphrase passed as the key by mistake.
func TestKeyValueNotEchoed(t *testing.T) {
	k := signtest.NewKey(t, "b64", "")
	secret, err := os.ReadFile(k.SecretFile)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(secret)
	env := append(os.Environ(), "GNUPGHOME="+k.Home)
	for _, c := range []struct {
		name, key, hidden string
		pass              []byte
	}{
		{"base64 key", b64, b64[40:80], nil},
		{"passphrase as the key", "pass phrase 42", "pass phrase 42", []byte("pass phrase 42")},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, err := sign.Open(t.Context(), sign.Options{Key: c.key, Passphrase: c.pass, Environ: env})
			if err == nil {
				g.Close()
				t.Fatal("opened")
			}
			if strings.Contains(err.Error(), c.hidden) {
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
}
