package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/lxd"
	"github.com/builder-images/builder/builder/output"
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

// aliasesFor is what import names the image: --alias values, or the image
// name, plus the recipe's own aliases.
func (o *deliveryOptions) aliasesFor(j image.ImageJSON) []string {
	names := slices.Clone(o.aliases)
	if len(names) == 0 && j.Name != "" {
		names = []string{j.Name}
	}
	for _, a := range j.Aliases {
		if !slices.Contains(names, a) {
			names = append(names, a)
		}
	}
	return names
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

// deliver imports an output directory, reporting on log (a terminal
// when tty, which shows the upload live).
func (a *app) deliver(ctx context.Context, opts *deliveryOptions, dir string, j image.ImageJSON, log io.Writer, tty bool) (lxd.ImportResult, error) {
	if opts.daemon != "" && opts.daemon != string(lxd.LXD) && opts.daemon != string(lxd.Incus) {
		return lxd.ImportResult{}, usageError{fmt.Errorf("--daemon must be lxd or incus, not %q", opts.daemon)}
	}
	for _, name := range opts.aliases {
		if err := image.CheckAlias(name); err != nil {
			return lxd.ImportResult{}, usageError{fmt.Errorf("--alias %q %w", name, err)}
		}
	}
	// Before any daemon is looked for, which would fail first when there
	// is none and say so, hiding what is wrong with the directory.
	if err := image.CheckFiles(dir, j); err != nil {
		return lxd.ImportResult{}, err
	}
	client, err := a.connect(ctx, opts)
	if err != nil {
		return lxd.ImportResult{}, err
	}
	fmt.Fprintf(log, "==> importing %s into %s (%s)\n", image.Short(j.Fingerprint), client.Where, client.Daemon)
	start := time.Now()
	progress := output.StartProgress(log, tty, "upload", "sent")
	res, err := lxd.Import(ctx, client, lxd.ImportOptions{
		Dir: dir, Image: j, Aliases: opts.aliasesFor(j),
		Replace: opts.replace, Public: opts.public,
		Progress: func(sent, _ int64) { progress.Set(sent) },
	})
	progress.Stop()
	if err != nil {
		return res, err
	}
	if res.Uploaded {
		fmt.Fprintf(log, "    uploaded %s in %s\n", output.HumanSize(totalSize(j)), time.Since(start).Round(10*time.Millisecond))
	} else {
		fmt.Fprintf(log, "    already present\n")
	}
	for _, c := range res.Aliases {
		switch c.Action {
		case "moved":
			fmt.Fprintf(log, "    alias %s moved from %s\n", c.Name, image.Short(c.Previous))
		default:
			fmt.Fprintf(log, "    alias %s %s\n", c.Name, c.Action)
		}
	}
	for _, fp := range res.Deleted {
		fmt.Fprintf(log, "    deleted replaced image %s\n", image.Short(fp))
	}
	for _, fp := range res.Kept {
		fmt.Fprintf(log, "    kept image %s (still aliased, or no --replace)\n", image.Short(fp))
	}
	fmt.Fprintf(log, "<== imported %s\n", j.Fingerprint)
	return res, nil
}

// connect reaches the daemon the options name and checks it trusts us.
func (a *app) connect(ctx context.Context, opts *deliveryOptions) (*lxd.Client, error) {
	lookup := environLookup(a.environ)
	if opts.remote != "" {
		daemon := lxd.Daemon(opts.daemon)
		if daemon == "" {
			daemon = lxd.LXD
		}
		home, _ := lookup("HOME")
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		ropts, err := lxd.ResolveRemote(opts.remote, lxd.ClientConfigDir(daemon, lookup, home), lxd.RemoteOptions{
			ClientCert: opts.clientCert, ClientKey: opts.clientKey, ServerCert: opts.serverCert, Project: opts.project,
		})
		if err != nil {
			return nil, usageError{err}
		}
		client, err := lxd.NewRemoteClient(ropts)
		if err != nil {
			return nil, err
		}
		if _, err := client.Connect(ctx); err != nil {
			return nil, err
		}
		return client, nil
	}
	if opts.clientCert != "" || opts.clientKey != "" || opts.serverCert != "" {
		return nil, usageError{errors.New("--client-cert, --client-key and --server-cert go with --remote")}
	}
	sockets, _ := lxd.Finder{LookupEnv: lookup}.FindAll(ctx)
	var tried []string
	for _, s := range sockets {
		if opts.daemon != "" && string(s.Daemon) != opts.daemon {
			continue
		}
		if !s.Connectable {
			reason := "does not exist"
			if s.DialErr != nil {
				reason = s.DialErr.Error()
			}
			tried = append(tried, fmt.Sprintf("%s socket %s (%s): %s", s.Daemon, s.Path, s.From, reason))
			continue
		}
		client := lxd.NewUnixClient(s)
		if opts.project != "" {
			client.Project = opts.project
		}
		if _, err := client.Connect(ctx); err != nil {
			return nil, err
		}
		return client, nil
	}
	return nil, fmt.Errorf("no LXD or Incus daemon answers on this machine; start one (ci/start-lxd.sh does it for the tests) or use --remote:\n  %s", strings.Join(tried, "\n  "))
}

func (a *app) stderrIsTerminal() bool {
	_, ok := terminal(a.stderr)
	return ok && !a.inCI()
}

func totalSize(j image.ImageJSON) int64 {
	var n int64
	for _, f := range j.Files {
		n += f.Size
	}
	return n
}

// inCI reports whether the environment says the build runs in CI, whose
// logs are no terminal even when stdout looks like one.
func (a *app) inCI() bool {
	ci, _ := environLookup(a.environ)("CI")
	return ci == "true"
}
