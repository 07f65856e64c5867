package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/builder-images/builder/builder/sign"
	"github.com/builder-images/builder/builder/streams"
)

func (a *app) newTreeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tree",
		Short: "List, remove, prune, verify and sign images in a simplestreams tree",
		Long: `The tree commands keep a simplestreams tree that 'builder publish' wrote.
TREE is a directory or s3://BUCKET/PREFIX (see 'builder publish --help' for
the S3 environment variables). Commands that change the tree take its lock,
as publish does, and delete files no image refers to any more. A signed
tree (see 'builder publish --help') is only changed with --sign-key, which
signs it again after the change.`,
	}
	for _, c := range []*cobra.Command{a.newTreeListCommand(), a.newTreeRemoveCommand(), a.newTreePruneCommand(), a.newTreeVerifyCommand(), a.newTreeSignCommand()} {
		wrapArgs(c)
		cmd.AddCommand(c)
	}
	return cmd
}

func (a *app) openTree(target string, lockTimeout time.Duration) (*streams.Tree, error) {
	store, err := streams.Open(target, a.environ, false)
	if err != nil {
		return nil, err
	}
	return &streams.Tree{Store: store, Log: a.stdout, LockTimeout: lockTimeout}, nil
}

func (a *app) newTreeListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list TREE [FILTER…]",
		Short: "List the images of a tree",
		Long: `List prints the tree's images, newest version of each product first, with
the filters of 'lxc image list': a bare FILTER matches part of an alias or of
the fingerprint, KEY=VALUE a property (KEY may be shortened, "rel=" for
"release="; VALUE is a regular expression that must match the whole value).
All filters must match; type=virtual-machine lists VM images. A version's
container and VM images are two rows. A product's aliases resolve to its
newest image of each type, so only those rows show them and match them.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tree, err := a.openTree(args[0], 0)
			if err != nil {
				return err
			}
			imgs, err := tree.Images(cmd.Context(), args[1:]...)
			if err != nil {
				return err
			}
			if asJSON {
				if imgs == nil {
					imgs = []streams.Image{}
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(imgs)
			}
			return writeImageTable(a, imgs)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func writeImageTable(a *app, imgs []streams.Image) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ALIAS\tFINGERPRINT\tPRODUCT\tVERSION\tARCH\tTYPE\tSIZE\tEXPIRES")
	for _, img := range imgs {
		alias := ""
		if len(img.Aliases) > 0 {
			alias = img.Aliases[0]
			for _, al := range img.Aliases[1:] {
				if len(al) < len(alias) {
					alias = al
				}
			}
			if n := len(img.Aliases) - 1; n > 0 {
				alias += fmt.Sprintf(" (%d more)", n)
			}
		}
		expires := "never"
		if !img.Expires.IsZero() {
			expires = img.Expires.UTC().Format("2006-01-02 15:04")
		}
		fp := img.Fingerprint
		if len(fp) > 12 {
			fp = fp[:12]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.2fMiB\t%s\n", alias, fp, img.Product, img.Version, img.Architecture, img.Type, float64(img.Size)/(1<<20), expires)
	}
	return tw.Flush()
}

// withSigner opens the signer flags name (none without --sign-key) and
// gives it to tree for the change run makes.
func (a *app) withSigner(ctx context.Context, flags *signFlags, tree *streams.Tree, run func() error) (err error) {
	signer, err := flags.open(ctx, a)
	if err != nil {
		return err
	}
	if signer != nil {
		defer func() { err = errors.Join(err, signer.Close()) }()
		tree.Signer = signer
	}
	return run()
}

func (a *app) newTreeRemoveCommand() *cobra.Command {
	var (
		lockTimeout time.Duration
		sf          signFlags
	)
	cmd := &cobra.Command{
		Use:   "remove TREE FINGERPRINT|PRODUCT[:VERSION]…",
		Short: "Remove images from a tree",
		Long: `Remove deletes images from the tree: by fingerprint (at least its first 12
digits: that image, leaving the other type's image of its version), a whole
product (OS:RELEASE:VARIANT:ARCH), or one version of it (PRODUCT:VERSION,
its container and VM images). Files no other image uses are deleted. If any
argument matches nothing, nothing is removed.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			tree, err := a.openTree(args[0], lockTimeout)
			if err != nil {
				return err
			}
			return a.withSigner(cmd.Context(), &sf, tree, func() error { return tree.Remove(cmd.Context(), args[1:]...) })
		},
	}
	cmd.Flags().DurationVar(&lockTimeout, "lock-timeout", 5*time.Minute, "how long to wait for another publisher's lock (0: no limit)")
	sf.register(cmd.Flags())
	return cmd
}

func (a *app) newTreePruneCommand() *cobra.Command {
	var (
		keep        int
		dryRun      bool
		lockTimeout time.Duration
		sf          signFlags
	)
	cmd := &cobra.Command{
		Use:   "prune TREE [--keep N] [--dry-run]",
		Short: "Remove expired and old images from a tree",
		Long: `Prune removes every image past its expiry (the recipe's expiry, recorded
at publish time) and, with --keep N, all but the newest N versions of each
product, each with its container and VM images. Files no remaining image
uses are deleted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keep < 0 {
				return usageError{errors.New("--keep must be 0 (no limit) or more")}
			}
			tree, err := a.openTree(args[0], lockTimeout)
			if err != nil {
				return err
			}
			var removed []string
			prune := func() (err error) {
				removed, err = tree.Prune(cmd.Context(), keep, dryRun)
				return err
			}
			if dryRun {
				// Changes nothing, so signs nothing.
				err = prune()
			} else {
				err = a.withSigner(cmd.Context(), &sf, tree, prune)
			}
			if err == nil && len(removed) == 0 {
				fmt.Fprintln(a.stdout, "nothing to prune")
			}
			return err
		},
	}
	cmd.Flags().IntVar(&keep, "keep", 0, "keep the newest N versions of each product (0: keep all that have not expired)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only print what would be removed")
	cmd.Flags().DurationVar(&lockTimeout, "lock-timeout", 5*time.Minute, "how long to wait for another publisher's lock (0: no limit)")
	sf.register(cmd.Flags())
	return cmd
}

func (a *app) newTreeVerifyCommand() *cobra.Command {
	var keyring string
	cmd := &cobra.Command{
		Use:   "verify TREE [--keyring FILE]",
		Short: "Check every file, fingerprint and signature of a tree",
		Long: `Verify reads every file the tree's index refers to and checks its size and
sha256, and each image's fingerprint (the combined hashes of split images).
With --keyring (public keys, binary as gpgv takes them or armoured) it also
checks the signatures of a signed tree: index.json.gpg, images.json.gpg,
index.sjson and images.sjson (and that they say what the .json files say),
and each version's SHA256SUMS and its signature; a missing signature is a
problem too. It prints one line per problem, naming the file, and exits 1
when there is any.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runTreeVerify(cmd.Context(), args[0], keyring)
		},
	}
	cmd.Flags().StringVar(&keyring, "keyring", "", "check the tree's signatures against the public keys in this file")
	return cmd
}

func (a *app) runTreeVerify(ctx context.Context, target, keyring string) error {
	tree, err := a.openTree(target, 0)
	if err != nil {
		return err
	}
	if keyring != "" {
		kr, err := sign.LoadKeyring(keyring)
		if err != nil {
			return err
		}
		tree.Verifier = kr
	}
	problems, err := tree.Verify(ctx)
	if err != nil {
		return err
	}
	imgs, err := tree.Images(ctx)
	if err != nil {
		return err
	}
	if len(problems) == 0 {
		signed := ""
		if keyring != "" {
			signed = ", signatures good"
		}
		fmt.Fprintf(a.stdout, "%s: %d images verified%s\n", target, len(imgs), signed)
		return nil
	}
	lines := make([]string, len(problems))
	for i, p := range problems {
		lines[i] = "  " + p.String()
	}
	return &exitError{code: exitFailure, err: fmt.Errorf("%s: %d problems:\n%s", target, len(problems), strings.Join(lines, "\n"))}
}

func (a *app) newTreeSignCommand() *cobra.Command {
	var (
		lockTimeout time.Duration
		sf          signFlags
	)
	cmd := &cobra.Command{
		Use:   "sign TREE --sign-key KEY [--sign-passphrase-file F]",
		Short: "Sign a tree, or sign it again with another key",
		Long: `Sign signs a tree as 'publish --sign-key' does, without changing its
images: every version's SHA256SUMS, then the index files, all made again.
It turns an unsigned tree into a signed one, replaces an old key's
signatures with a new key's, and repairs signatures a failed publish left
stale or missing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if sf.key == "" {
				return usageError{errors.New("tree sign needs --sign-key")}
			}
			tree, err := a.openTree(args[0], lockTimeout)
			if err != nil {
				return err
			}
			return a.withSigner(cmd.Context(), &sf, tree, func() error { return tree.Sign(cmd.Context()) })
		},
	}
	cmd.Flags().DurationVar(&lockTimeout, "lock-timeout", 5*time.Minute, "how long to wait for another publisher's lock (0: no limit)")
	sf.register(cmd.Flags())
	return cmd
}
