package sign

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
)

// maxKeyringBytes bounds a keyring file: a few public keys are a few
// kilobytes.
const maxKeyringBytes = 4 << 20

// Keyring checks signatures against a set of public keys.
type Keyring struct {
	path string
	keys openpgp.EntityList
}

// LoadKeyring reads public keys from path: a binary keyring (`gpg
// --export`, what gpgv takes) or armoured ones (`gpg --armor --export`).
func LoadKeyring(path string) (*Keyring, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading the keyring: %w", err)
	}
	if st.Size() > maxKeyringBytes {
		return nil, fmt.Errorf("reading the keyring %s: %d bytes, more than a keyring holds (at most %d)", path, st.Size(), maxKeyringBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the keyring: %w", err)
	}
	var keys openpgp.EntityList
	if bytes.Contains(data, []byte("-----BEGIN PGP")) {
		// Several armoured blocks may be concatenated.
		rest := data
		for {
			i := bytes.Index(rest, []byte("-----BEGIN PGP"))
			if i < 0 {
				break
			}
			block, err := armor.Decode(bytes.NewReader(rest[i:]))
			if err != nil {
				return nil, fmt.Errorf("reading the keyring %s: %w", path, err)
			}
			if block.Type != openpgp.PublicKeyType {
				return nil, fmt.Errorf("reading the keyring %s: a %q block; a keyring holds public keys (gpg --export)", path, block.Type)
			}
			el, err := openpgp.ReadKeyRing(block.Body)
			if err != nil {
				return nil, fmt.Errorf("reading the keyring %s: %w", path, err)
			}
			keys = append(keys, el...)
			end := bytes.Index(rest[i:], []byte("-----END PGP"))
			if end < 0 {
				break
			}
			rest = rest[i+end+len("-----END PGP"):]
		}
	} else {
		keys, err = openpgp.ReadKeyRing(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("reading the keyring %s: %w", path, err)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("reading the keyring %s: no public key in it", path)
	}
	for _, e := range keys {
		if e.PrivateKey != nil {
			return nil, fmt.Errorf("reading the keyring %s: it holds a secret key; give verify the public keys only (gpg --export)", path)
		}
	}
	return &Keyring{path: path, keys: keys}, nil
}

// VerifyDetached checks sig, an armoured or binary detached signature,
// over data, and returns the signing key's fingerprint.
func (k *Keyring) VerifyDetached(data, sig []byte) (string, error) {
	var signer *openpgp.Entity
	var err error
	if bytes.HasPrefix(bytes.TrimSpace(sig), []byte("-----BEGIN PGP SIGNATURE-----")) {
		signer, err = openpgp.CheckArmoredDetachedSignature(k.keys, bytes.NewReader(data), bytes.NewReader(sig), nil)
	} else {
		signer, err = openpgp.CheckDetachedSignature(k.keys, bytes.NewReader(data), bytes.NewReader(sig), nil)
	}
	return fingerprint(signer, err)
}

// VerifyClearsigned checks a clearsigned message and returns its text
// and the signing key's fingerprint. Nothing may stand before or after
// the signed block: text there would be read by nobody's check.
func (k *Keyring) VerifyClearsigned(msg []byte) ([]byte, string, error) {
	trimmed := bytes.TrimLeft(msg, " \t\r\n")
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
		return nil, "", errors.New("not a clearsigned message")
	}
	block, rest := clearsign.Decode(trimmed)
	if block == nil {
		return nil, "", errors.New("not a clearsigned message")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, "", errors.New("unsigned text after the signature")
	}
	signer, err := block.VerifySignature(k.keys, nil)
	fpr, err := fingerprint(signer, err)
	if err != nil {
		return nil, "", err
	}
	return block.Plaintext, fpr, nil
}

func fingerprint(signer *openpgp.Entity, err error) (string, error) {
	if err != nil {
		if errors.Is(err, pgperrors.ErrUnknownIssuer) {
			return "", errors.New("signed by a key that is not in the keyring")
		}
		return "", fmt.Errorf("bad signature: %w", err)
	}
	if signer == nil || signer.PrimaryKey == nil {
		return "", errors.New("bad signature: no signer")
	}
	return strings.ToUpper(fmt.Sprintf("%x", signer.PrimaryKey.Fingerprint)), nil
}
