package main

import (
	"context"
	"errors"

	"github.com/spf13/pflag"

	"github.com/builder-images/builder/builder/sign"
)

// signFlags are the flags of the commands that change a tree: with
// --sign-key the tree is signed (again) after the change.
type signFlags struct {
	key            string
	passphraseFile string
}

func (f *signFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.key, "sign-key", "", "sign the tree with this key: a file holding an armoured secret key, or a key ID or fingerprint in the GnuPG home (GNUPGHOME)")
	fs.StringVar(&f.passphraseFile, "sign-passphrase-file", "", "the signing key's passphrase, the file's first line (else $"+sign.PassphraseEnv+")")
}

// open returns the signer the flags name, nil without --sign-key. The
// caller closes it: a key file's private GnuPG home goes with it.
func (f *signFlags) open(ctx context.Context, a *app) (*sign.GPG, error) {
	if f.key == "" {
		if f.passphraseFile != "" {
			return nil, usageError{errors.New("--sign-passphrase-file needs --sign-key")}
		}
		return nil, nil
	}
	pass, err := sign.ReadPassphrase(f.passphraseFile, a.environ)
	if err != nil {
		return nil, err
	}
	return sign.Open(ctx, sign.Options{Key: f.key, Passphrase: pass, Environ: a.environ})
}
