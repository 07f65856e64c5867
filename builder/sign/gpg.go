// Package sign makes and checks the OpenPGP signatures of a signed
// simplestreams tree. Signing runs GnuPG's gpg, so that a key can stay in
// the user's GnuPG home, agent or smartcard; checking is done in Go
// (ProtonMail's go-crypto), so that `tree verify --keyring` needs no
// GnuPG and is a second, independent implementation beside gpgv.
//
// Keys and passphrases are never put on a command line and never
// printed: a key file is imported into a private GnuPG home (mode 0700,
// removed with its agent on Close), a passphrase goes to gpg through a
// pipe (--passphrase-fd), and gpg's messages are masked before they go
// into an error.
package sign

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// PassphraseEnv is the environment variable a passphrase may come from,
// as CI systems hand secrets over.
const PassphraseEnv = "BUILDER_SIGN_PASSPHRASE"

// Options say which key signs.
type Options struct {
	// Key is a file holding one secret key (armoured, as `gpg --armor
	// --export-secret-keys` writes it), or a key ID,
	// fingerprint or user ID of a secret key in the GnuPG home
	// (GNUPGHOME in Environ, else ~/.gnupg).
	Key string
	// Passphrase unlocks the key; nil when it has none (or the user's
	// agent has it).
	Passphrase []byte
	// Environ is gpg's environment: GNUPGHOME, HOME, PATH.
	Environ []string
	// GPG is the program; "" is "gpg" on PATH.
	GPG string
}

// GPG signs with one secret key through the gpg program.
type GPG struct {
	program     string
	home        string // "": the user's GnuPG home
	temp        bool   // home is ours, removed by Close
	fingerprint string // the primary key's
	passphrase  []byte
	env         []string
}

// Open finds the key opts name (importing a key file into a private
// GnuPG home) and checks that it can sign. Close it when done.
func Open(ctx context.Context, opts Options) (_ *GPG, err error) {
	if opts.Key == "" {
		return nil, errors.New("signing: no key")
	}
	if strings.Contains(opts.Key, "-----BEGIN") || strings.ContainsAny(opts.Key, "\n\r") {
		// The key itself was passed, perhaps from a CI secret: never
		// echo it.
		return nil, errors.New("signing: --sign-key takes a key file or a key ID, not the key itself; write the key to a file (mode 0600) and pass its path")
	}
	g := &GPG{program: opts.GPG, passphrase: opts.Passphrase, env: gpgEnv(opts.Environ)}
	if g.program == "" {
		g.program = "gpg"
	}
	if _, err := exec.LookPath(g.program); err != nil {
		return nil, fmt.Errorf("signing: %s not found (install the gpg package): %w", g.program, err)
	}
	defer func() {
		if err != nil {
			// Masked before Close clears the passphrase: a passphrase
			// passed as --sign-key by mistake is quoted as the selector.
			err = errors.Join(g.mask(err), g.Close())
		}
	}()
	selector := opts.Key
	// A file, or a pipe: --sign-key <(printenv KEY) keeps a CI secret
	// off the disk, and names /dev/fd/N.
	if st, serr := os.Stat(opts.Key); serr == nil && !st.IsDir() {
		if err := g.importKeyFile(ctx, opts.Key); err != nil {
			return nil, err
		}
		selector = ""
	} else if len(opts.Key) > maxSelector {
		// Longer than any key ID, fingerprint or user ID: most likely
		// the key itself, base64-encoded as CI secrets often hold it.
		return nil, fmt.Errorf("signing: --sign-key's value (%d characters) is neither a file nor a key ID, fingerprint or user ID; if it is the key itself, write it to a file (mode 0600) or pass it as a pipe, --sign-key <(printenv VAR)", len(opts.Key))
	}
	fprs, err := g.secretKeys(ctx, selector)
	if err != nil {
		return nil, err
	}
	where := "the GnuPG home"
	if g.temp {
		where = opts.Key
	}
	switch len(fprs) {
	case 0:
		return nil, fmt.Errorf("signing: no secret key %s in %s", quoteSelector(selector), where)
	case 1:
		g.fingerprint = fprs[0]
	default:
		return nil, fmt.Errorf("signing: %d secret keys %s in %s (%s); name one by its fingerprint", len(fprs), quoteSelector(selector), where, strings.Join(fprs, ", "))
	}
	// Sign once now, so that a wrong passphrase or a key that cannot
	// sign fails before anything is published.
	if _, err := g.DetachSign(ctx, []byte("builder signing check\n")); err != nil {
		return nil, err
	}
	return g, nil
}

// maxSelector bounds a key ID, fingerprint or user ID that errors may
// quote: a longer value is taken for a secret passed as --sign-key.
const maxSelector = 128

// mask returns err with the passphrase, should it appear, masked.
func (g *GPG) mask(err error) error {
	p := strings.TrimSpace(string(g.passphrase))
	if p == "" || !strings.Contains(err.Error(), p) {
		return err
	}
	return &maskedError{msg: strings.ReplaceAll(err.Error(), p, "(sensitive value)"), err: err}
}

// maskedError is an error whose message had a secret masked.
type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

func quoteSelector(s string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf("matching %q", s)
}

// gpgEnv is environ for gpg, with messages in English (they end up in
// errors) and without the variables that would point it at another
// agent, nor PassphraseEnv: gpg gets the passphrase on a pipe, and the
// gpg-agent it starts inherits its environment, readable in /proc, and
// may outlive builder (the user's home's agent does).
func gpgEnv(environ []string) []string {
	out := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "LC_ALL", "LANG", "LANGUAGE", "GPG_AGENT_INFO", PassphraseEnv:
			continue
		}
		out = append(out, kv)
	}
	return append(out, "LC_ALL=C")
}

// importKeyFile makes a private GnuPG home and imports the key file
// into it.
func (g *GPG) importKeyFile(ctx context.Context, path string) error {
	home, err := os.MkdirTemp("", "builder-sign-")
	if err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	g.home, g.temp = home, true
	if err := os.Chmod(home, 0o700); err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	// The agent stores an imported key protected again with hash rounds
	// calibrated to 100 ms of an idle machine, seconds on a busy CI
	// runner. This copy lives in a root-only directory only while the
	// command runs, and whoever could read it could read the passphrase
	// too: the fewest rounds protect it as well.
	if err := os.WriteFile(filepath.Join(home, "gpg-agent.conf"), []byte("s2k-count 65536\n"), 0o600); err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("signing: reading the key file: %w", err)
	}
	if _, err := g.run(ctx, "importing "+path, data, true, "--import"); err != nil {
		return err
	}
	return nil
}

// secretKeys returns the fingerprints of the primary secret keys that
// match selector ("" is every one).
func (g *GPG) secretKeys(ctx context.Context, selector string) ([]string, error) {
	args := []string{"--with-colons", "--list-secret-keys"}
	if selector != "" {
		args = append(args, "--", selector)
	}
	out, err := g.run(ctx, "listing secret keys", nil, false, args...)
	if err != nil {
		if selector != "" && !g.temp {
			// gpg fails when nothing matches.
			return nil, nil
		}
		return nil, err
	}
	var fprs []string
	wantFpr := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		switch {
		case f[0] == "sec":
			wantFpr = true
		case f[0] == "fpr" && wantFpr && len(f) > 9:
			fprs = append(fprs, f[9])
			wantFpr = false
		case f[0] == "ssb":
			wantFpr = false
		}
	}
	return fprs, nil
}

// Fingerprint is the signing key's (its primary key's) fingerprint.
func (g *GPG) Fingerprint() string { return g.fingerprint }

// Clearsign returns data clearsigned (an armoured signed message).
func (g *GPG) Clearsign(ctx context.Context, data []byte) ([]byte, error) {
	return g.sign(ctx, data, "--clearsign")
}

// DetachSign returns an armoured detached signature of data.
func (g *GPG) DetachSign(ctx context.Context, data []byte) ([]byte, error) {
	return g.sign(ctx, data, "--armor", "--detach-sign")
}

func (g *GPG) sign(ctx context.Context, data []byte, mode ...string) ([]byte, error) {
	key := g.fingerprint
	if key == "" {
		return nil, errors.New("signing: no key")
	}
	// SHA-512 rather than gpg's default for the key: current verifiers
	// reject SHA-1, and every OpenPGP implementation has SHA-512.
	args := append([]string{"--local-user", key, "--digest-algo", "SHA512"}, mode...)
	out, err := g.run(ctx, "signing with key "+key, data, true, args...)
	if err != nil && g.passphrase == nil {
		return nil, fmt.Errorf("%w (if the key needs a passphrase: --sign-passphrase-file FILE or %s)", err, PassphraseEnv)
	}
	return out, err
}

// run runs gpg with args, data on its standard input, and returns its
// standard output. With withPass, the passphrase (if any) goes through
// file descriptor 3. Errors carry gpg's last lines, masked.
func (g *GPG) run(ctx context.Context, what string, data []byte, withPass bool, args ...string) ([]byte, error) {
	base := []string{"--batch", "--no-tty", "--yes", "--quiet"}
	if g.home != "" {
		base = append(base, "--homedir", g.home)
	}
	var extra []*os.File
	var pw *os.File
	if withPass {
		// Never a pinentry window or terminal prompt: the passphrase
		// comes from us, or the agent has it cached, or signing fails.
		base = append(base, "--pinentry-mode", "loopback")
	}
	if withPass && g.passphrase != nil {
		pr, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("signing: %w", err)
		}
		defer pr.Close() // the child has its own copy
		pw = w
		extra = append(extra, pr)
		base = append(base, "--passphrase-fd", "3")
	}
	cmd := exec.CommandContext(ctx, g.program, append(base, args...)...)
	cmd.Env = g.env
	cmd.Stdin = bytes.NewReader(data)
	cmd.ExtraFiles = extra
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		if pw != nil {
			pw.Close()
		}
		return nil, fmt.Errorf("signing: %s: %w", what, err)
	}
	if pw != nil {
		// Small enough for the pipe's buffer; closed so gpg sees its end.
		_, werr := pw.Write(append(bytes.Clone(g.passphrase), '\n'))
		cerr := pw.Close()
		if werr != nil || cerr != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, fmt.Errorf("signing: %s: handing gpg the passphrase: %w", what, errors.Join(werr, cerr))
		}
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("signing: %s: gpg: %w%s", what, err, g.tail(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// tail is the last lines of gpg's messages for an error, with the
// passphrase masked should gpg ever echo it.
func (g *GPG) tail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	s = strings.Join(lines, "; ")
	if p := strings.TrimSpace(string(g.passphrase)); p != "" {
		s = strings.ReplaceAll(s, p, "(sensitive value)")
	}
	return ": " + s
}

// Close stops the private home's agent and removes the home; for the
// user's home it does nothing.
func (g *GPG) Close() error {
	clear(g.passphrase)
	if !g.temp || g.home == "" {
		return nil
	}
	home := g.home
	g.home, g.temp = "", false
	// The agent gpg started for the private home holds the key in
	// memory; stop it before removing its home and sockets.
	for _, args := range [][]string{{"--kill", "gpg-agent"}, {"--remove-socketdir"}} {
		cmd := exec.Command("gpgconf", append([]string{"--homedir", home}, args...)...)
		cmd.Env = g.env
		_ = cmd.Run() // best effort: an agent that never started has nothing to stop
	}
	// The agent exits a moment after it is told to, removing its
	// socket: wait for that (briefly), so it is gone when Close returns.
	for range 40 {
		if _, err := os.Stat(filepath.Join(home, "S.gpg-agent")); os.IsNotExist(err) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := os.RemoveAll(home); err != nil {
		return fmt.Errorf("signing: removing the private GnuPG home: %w", err)
	}
	return nil
}

// ReadPassphrase returns the passphrase from file (its first line) when
// file is set, else from PassphraseEnv in environ, else nil.
func ReadPassphrase(file string, environ []string) ([]byte, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase file: %w", err)
		}
		line, _, _ := bytes.Cut(data, []byte("\n"))
		return bytes.TrimSuffix(line, []byte("\r")), nil
	}
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, PassphraseEnv+"="); ok {
			return []byte(v), nil
		}
	}
	return nil, nil
}
