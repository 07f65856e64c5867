package recipe

import (
	"regexp"
	"slices"
	"strings"

	"github.com/builder-images/builder/builder/bootstrap"
)

// fingerprintPattern is an OpenPGP fingerprint once normalized: 40 hex
// digits for a v4 key, 64 for a v6 one. Key IDs (16 digits or fewer) are
// refused: they are short enough to be forged.
var fingerprintPattern = regexp.MustCompile(`^([0-9A-F]{40}|[0-9A-F]{64})$`)

// bootstrapKeyring checks the keyring of a debootstrap or mmdebstrap
// block and its pinned fingerprints, and returns the keyring as the
// build uses it: a path resolved like the recipe's other host paths, or
// an https URL. A URL must come with fingerprints, as a tarball URL must
// come with its sha256: whoever serves the file could otherwise choose
// the keys the archive is checked with.
func (s *stepDecoder) bootstrapKeyring(d *attrDecoder, bs *bootstrap.Config) string {
	for i, f := range bs.KeyringFingerprints {
		if !fingerprintPattern.MatchString(bootstrap.NormalizeFingerprint(f)) {
			d.elementErrorf("keyring_fingerprints", i, "Invalid fingerprint",
				"%q is not an OpenPGP fingerprint: 40 hexadecimal digits (64 for a v6 key), spaces allowed, as 'gpg --show-keys --with-fingerprint FILE' prints them. Short key IDs are not enough to pin a key.", f)
		} else if slices.Index(bs.KeyringFingerprints, f) != i {
			d.elementErrorf("keyring_fingerprints", i, "Duplicate fingerprint", "%q is listed twice.", f)
		}
	}
	switch {
	case strings.Contains(bs.Keyring, "://"):
		if msg := checkURL(bs.Keyring, "https"); msg != "" {
			d.errorf("keyring", "Invalid keyring", "The keyring %s A keyring is a file on the build host or an https URL.", msg)
		} else if len(bs.KeyringFingerprints) == 0 && !d.failed["keyring_fingerprints"] {
			d.errorf("keyring", "Missing keyring_fingerprints",
				"A keyring downloaded from %s needs keyring_fingerprints = [\"…\"], the fingerprints of the keys it must hold, so a changed or forged file fails the build.", bs.Keyring)
		}
		return bs.Keyring
	case bs.Keyring == "" && d.has("keyring_fingerprints"):
		d.errorf("keyring_fingerprints", "Fingerprints without a keyring",
			"keyring_fingerprints pins the keys of keyring, which is not set: set keyring to the file or https URL that holds them.")
	}
	return s.hostPath(d, "keyring", bs.Keyring)
}
