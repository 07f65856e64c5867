package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/builder-images/builder/builder/deliver"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/lxd"
)

// deliveryOptions are the flags of import, and of build --import, that
// say which daemon receives the image and how.
type deliveryOptions struct {
	aliases    []string
	replace    bool
	public     bool
	daemon     string
	remote     string
	clientCert string
	clientKey  string
	serverCert string
	project    string
}

func (o *deliveryOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.aliases, "alias", nil, "alias for the image, repeatable (default: the image name); the recipe's aliases are added")
	fs.BoolVar(&o.replace, "replace", false, "delete the images the aliases are moved away from, when no other alias names them")
	fs.BoolVar(&o.public, "public", false, "make the image public")
	fs.StringVar(&o.daemon, "daemon", "", "lxd or incus (default: the first whose socket answers, LXD first; for --remote, the client configuration to read)")
	fs.StringVar(&o.remote, "remote", "", "upload over HTTPS to https://HOST[:PORT] or to a remote named in the lxc/incus client configuration")
	fs.StringVar(&o.clientCert, "client-cert", "", "client certificate for --remote (default: the lxc or incus client's own)")
	fs.StringVar(&o.clientKey, "client-key", "", "client key for --remote (default: the lxc or incus client's own)")
	fs.StringVar(&o.serverCert, "server-cert", "", "the certificate --remote must present (default: the one the client pinned for a named remote, else system trust)")
	fs.StringVar(&o.project, "project", "", "project to import into (default: the daemon's default project)")
}

// delivering reports whether any delivery flag is set.
func (o *deliveryOptions) delivering() bool {
	return len(o.aliases) > 0 || o.replace || o.public || o.daemon != "" || o.remote != "" ||
		o.clientCert != "" || o.clientKey != "" || o.serverCert != "" || o.project != ""
}

// target is the daemon the flags name, reporting on log (a terminal
// when tty, which shows the upload live).
func (o *deliveryOptions) target(a *app, log io.Writer, tty bool) *deliver.Daemon {
	return &deliver.Daemon{
		Daemon: o.daemon, Remote: o.remote, ClientCert: o.clientCert, ClientKey: o.clientKey, ServerCert: o.serverCert,
		Project: o.project, Aliases: o.aliases, Replace: o.replace, Public: o.public,
		LookupEnv: environLookup(a.environ), Log: log, TTY: tty,
	}
}

func (a *app) newImportCommand() *cobra.Command {
	opts := &deliveryOptions{}
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "import OUTDIR",
		Short: "Import a built image into a local or remote LXD/Incus daemon",
		Long: `Import sends the image of an output directory (what 'builder build' and
'builder pack' write) to a daemon's image store, over the local unix
socket or, with --remote, over HTTPS. An image the daemon already holds is
not sent again. Aliases (the image name unless --alias is given, plus
the recipe's) are created, or moved from the image they named.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := image.ReadImageJSON(args[0])
			if err != nil {
				return err
			}
			res, err := a.deliver(cmd.Context(), opts, args[0], j, a.stderr, a.stderrIsTerminal())
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			return nil
		},
	}
	opts.AddFlags(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print what was done as JSON on stdout")
	return cmd
}

// deliver imports an output directory into the daemon the flags name,
// reporting on log (a terminal when tty); settings that cannot work are
// usage errors.
func (a *app) deliver(ctx context.Context, opts *deliveryOptions, dir string, j image.ImageJSON, log io.Writer, tty bool) (lxd.ImportResult, error) {
	res, err := opts.target(a, log, tty).Deliver(ctx, dir, j)
	var settings *deliver.SettingsError
	if errors.As(err, &settings) {
		return lxd.ImportResult{}, usageError{err}
	}
	if err != nil {
		return lxd.ImportResult{}, err
	}
	return *res.Import, nil
}

func (a *app) stderrIsTerminal() bool {
	_, ok := terminal(a.stderr)
	return ok && !a.inCI()
}

// inCI reports whether the environment says the build runs in CI, whose
// logs are no terminal even when stdout looks like one.
func (a *app) inCI() bool {
	ci, _ := environLookup(a.environ)("CI")
	return ci == "true"
}
