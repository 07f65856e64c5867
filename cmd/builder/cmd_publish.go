package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/builder-images/builder/builder/deliver"
)

type publishOptions struct {
	replace     bool
	lockTimeout time.Duration
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
an error unless --replace.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runPublish(cmd.Context(), opts, args[0], args[1:])
		},
	}
	cmd.Flags().BoolVar(&opts.replace, "replace", false, "replace an image of the same type already in the tree under the version with a different one")
	cmd.Flags().DurationVar(&opts.lockTimeout, "lock-timeout", 5*time.Minute, "how long to wait for another publisher's lock (0: no limit)")
	return cmd
}

func (a *app) runPublish(ctx context.Context, opts *publishOptions, target string, dirs []string) error {
	tree, err := deliver.OpenTree(target, a.environ, a.stdout, opts.lockTimeout)
	if err != nil {
		return err
	}
	tree.Replace = opts.replace
	_, err = tree.DeliverAll(ctx, dirs)
	return err
}
