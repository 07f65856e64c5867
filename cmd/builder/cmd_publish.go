package main

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/builder-images/builder/builder/deliver"
)

type publishOptions struct {
	replace     bool
	lockTimeout time.Duration
	sign        signFlags
}

func (a *app) newPublishCommand() *cobra.Command {
	opts := &publishOptions{}
	cmd := &cobra.Command{
		Use:   "publish TARGET OUTDIR…",
		Short: "Add images to a simplestreams tree (a directory or S3)",
		Long: `Publish adds the images of output directories (from 'builder build' or
'builder pack') to a simplestreams tree, which LXD and Incus use as an image
server remote ('lxc remote add NAME https://HOST --protocol simplestreams').

TARGET is a directory or s3://BUCKET/PREFIX. For S3 the endpoint comes from
AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL; https unless the URL says http://),
credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
AWS_SESSION_TOKEN, the region from AWS_REGION; buckets are addressed
path-style.

Each image is the product OS:RELEASE:VARIANT:ARCH, version SERIAL, with the
aliases OS/RELEASE/VARIANT and the recipe's own. Files are checked against
image.json while they are uploaded, under content-addressed names; the index
is then rewritten under the tree's lock, so concurrent publishers are safe.
A VM image's qcow2 is the item disk-kvm.img. A container and a VM image of
one build share a version when their metadata tarballs are the same file;
otherwise the second is refused. Publishing the same image again changes
nothing; another image of the same type under a version already there is
an error unless --replace.

With --sign-key the tree is signed after the change: streams/v1/index.sjson
and images.sjson (clearsigned), index.json.gpg and images.json.gpg
(detached), and each version's SHA256SUMS with its .gpg signature, checked
by 'builder tree verify --keyring' or gpgv. KEY is a file holding an
armoured secret key (imported into a private GnuPG home, removed
afterwards) or a key ID in the GnuPG home; its passphrase comes from
--sign-passphrase-file or $BUILDER_SIGN_PASSPHRASE, never from the command
line. A signed tree is only changed with --sign-key.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPublish(cmd.Context(), opts, args[0], args[1:])
		},
	}
	cmd.Flags().BoolVar(&opts.replace, "replace", false, "replace an image of the same type already in the tree under the version with a different one")
	cmd.Flags().DurationVar(&opts.lockTimeout, "lock-timeout", 5*time.Minute, "how long to wait for another publisher's lock (0: no limit)")
	opts.sign.register(cmd.Flags())
	return cmd
}

func (a *app) runPublish(ctx context.Context, opts *publishOptions, target string, dirs []string) (err error) {
	signer, err := opts.sign.open(ctx, a)
	if err != nil {
		return err
	}
	if signer != nil {
		defer func() { err = errors.Join(err, signer.Close()) }()
	}
	tree, err := deliver.OpenTree(target, a.environ, a.stdout, opts.lockTimeout)
	if err != nil {
		return err
	}
	tree.Replace = opts.replace
	if signer != nil {
		tree.Tree.Signer = signer
	}
	_, err = tree.DeliverAll(ctx, dirs)
	return err
}
