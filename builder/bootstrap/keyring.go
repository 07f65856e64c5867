package bootstrap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// maxKeyringBytes bounds a downloaded keyring: an archive's keyring is a
// few kilobytes (Debian's, with every release's keys, is under 100 KiB).
const maxKeyringBytes = 4 << 20

// keyringDir is where, in the work directory, pinned keyrings are kept
// for the build, named after what was asked (source and fingerprints).
const keyringDir = "keyrings"

// pinnedKeyring returns the keyring file a bootstrap tool is given for
// b: the recipe's own file when it pins no fingerprint; otherwise a
// keyring holding exactly the pinned keys, read from b.Keyring (a host
// file, or an https URL fetched now) and written to the work directory,
// where a second bootstrap of the same build finds it.
//
// Pinning is what makes a keyring from a URL safe: an OpenPGP v4
// fingerprint is a SHA-1 over the public key, a v6 one a SHA-256, so a
// server (or whoever sits between) can swap the file but not the keys
// the recipe names. Keys the file holds beyond those are dropped, so
// they sign nothing for the build.
func pinnedKeyring(ctx context.Context, env Env, b *Config) (string, error) {
	if b.Keyring == "" || len(b.KeyringFingerprints) == 0 {
		return b.Keyring, nil
	}
	sum := sha256.Sum256([]byte(b.Keyring + "\n" + strings.Join(b.KeyringFingerprints, "\n")))
	dir := filepath.Join(env.WorkDir, keyringDir)
	path := filepath.Join(dir, hex.EncodeToString(sum[:12])+".gpg")
	if data, err := os.ReadFile(path); err == nil {
		// Written by this build, but checked again: it costs nothing.
		if _, err := pinKeys(data, path, b.KeyringFingerprints); err == nil {
			return path, nil
		}
	}
	var data []byte
	var err error
	if isHTTPS(b.Keyring) {
		data, err = fetchKeyring(ctx, env.HTTP, b.Keyring)
	} else {
		data, err = readKeyring(b.Keyring)
	}
	if err != nil {
		return "", err
	}
	pinned, err := pinKeys(data, b.Keyring, b.KeyringFingerprints)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("keeping the keyring of %s: %w", b.Keyring, err)
	}
	if err := writeFileAtomic(path, pinned, 0o644); err != nil {
		return "", fmt.Errorf("keeping the keyring of %s: %w", b.Keyring, err)
	}
	return path, nil
}

func isHTTPS(s string) bool { return strings.HasPrefix(s, "https://") }

func readKeyring(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the keyring: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyringBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the keyring %s: %w", path, err)
	}
	if len(data) > maxKeyringBytes {
		return nil, fmt.Errorf("the keyring %s is larger than %d MiB, which no archive keyring is", path, maxKeyringBytes>>20)
	}
	return data, nil
}

// fetchKeyring downloads a keyring over https, whose certificate must
// chain to the system's authorities.
func fetchKeyring(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("downloading the keyring %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("downloading the keyring: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("downloading the keyring %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxKeyringBytes+1))
	if err != nil {
		return nil, fmt.Errorf("downloading the keyring %s: %w", url, err)
	}
	if len(data) > maxKeyringBytes {
		return nil, fmt.Errorf("the keyring %s is larger than %d MiB, which no archive keyring is", url, maxKeyringBytes>>20)
	}
	return data, nil
}

// KeyringError is a keyring that lacks keys the recipe pins.
type KeyringError struct {
	Source string
	// Missing are the pinned fingerprints the keyring lacks; Found are
	// those it holds, for the message.
	Missing, Found []string
}

func (e *KeyringError) Error() string {
	found := "no key"
	if len(e.Found) > 0 {
		found = "only " + strings.Join(e.Found, ", ")
	}
	return fmt.Sprintf("the keyring %s lacks the pinned key %s (it holds %s): a changed or wrong file, or a fingerprint to update in the recipe",
		e.Source, strings.Join(e.Missing, ", "), found)
}

// pinKeys reads an OpenPGP keyring, binary or ASCII-armored, and returns
// a binary keyring (what gpgv, and so debootstrap and apt, read) of the
// keys whose primary fingerprints are pinned; every pinned one must be
// there.
func pinKeys(data []byte, source string, fingerprints []string) ([]byte, error) {
	var keys openpgp.EntityList
	var err error
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN PGP")) {
		keys, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		keys, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("reading the keyring %s: %w", source, err)
	}
	want := make([]string, len(fingerprints))
	for i, f := range fingerprints {
		want[i] = NormalizeFingerprint(f)
	}
	var out bytes.Buffer
	var found []string
	for _, k := range keys {
		fpr := strings.ToUpper(hex.EncodeToString(k.PrimaryKey.Fingerprint))
		found = append(found, fpr)
		if !slices.Contains(want, fpr) {
			continue
		}
		if err := k.Serialize(&out); err != nil {
			return nil, fmt.Errorf("writing the key %s of %s: %w", fpr, source, err)
		}
	}
	var missing []string
	for _, w := range want {
		if !slices.Contains(found, w) {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		return nil, &KeyringError{Source: source, Missing: missing, Found: found}
	}
	return out.Bytes(), nil
}

// writeFileAtomic writes a file under a temporary name and renames it.
func writeFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".builder-keyring-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Chmod(mode), f.Close()); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// NormalizeFingerprint writes a fingerprint as builder compares it:
// upper case, without the spaces gpg prints between groups.
func NormalizeFingerprint(f string) string {
	return strings.ToUpper(strings.Join(strings.Fields(f), ""))
}
