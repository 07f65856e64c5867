package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/lxd"
	"github.com/builder-images/builder/builder/output"
)

// Daemon delivers into a LXD or Incus daemon's image store: a local one
// through its unix socket, or a remote one over HTTPS. An image the
// daemon holds already is not sent again; the aliases are created, or
// moved from the image they named.
type Daemon struct {
	// Daemon is "lxd", "incus" or empty: the first local daemon whose
	// socket answers, LXD first; for a remote, the client whose
	// configuration names it (LXD's when empty).
	Daemon string
	// Remote is https://HOST[:PORT] or a remote named in the client
	// configuration; empty means a local socket.
	Remote string
	// ClientCert, ClientKey and ServerCert go with Remote (see
	// lxd.RemoteOptions); the client's own by default.
	ClientCert, ClientKey, ServerCert string
	// Project is the project to import into; empty is the default one.
	Project string
	// Aliases name the image; none means its name. The recipe's aliases
	// (image.json's) are added.
	Aliases []string
	// Replace deletes the images the aliases moved away from, when no
	// other alias names them; Public makes the image public.
	Replace, Public bool
	// LookupEnv reads the environment (sockets, client configuration,
	// HOME), with os.LookupEnv's signature.
	LookupEnv func(string) (string, bool)
	// Log receives progress; TTY says it is a terminal, which shows the
	// upload live.
	Log io.Writer
	TTY bool
}

// Deliver imports the image of dir into the daemon, reporting on Log.
func (d *Daemon) Deliver(ctx context.Context, dir string, j image.ImageJSON) (Result, error) {
	if d.Daemon != "" && d.Daemon != string(lxd.LXD) && d.Daemon != string(lxd.Incus) {
		return Result{}, &SettingsError{fmt.Errorf("--daemon must be lxd or incus, not %q", d.Daemon)}
	}
	for _, name := range d.Aliases {
		if err := image.CheckAlias(name); err != nil {
			return Result{}, &SettingsError{fmt.Errorf("--alias %q %w", name, err)}
		}
	}
	// Before any daemon is looked for, which would fail first when there
	// is none and say so, hiding what is wrong with the directory.
	if err := image.CheckFiles(dir, j); err != nil {
		return Result{}, err
	}
	client, err := d.Connect(ctx)
	if err != nil {
		return Result{}, err
	}
	log := d.Log
	if log == nil {
		log = io.Discard
	}
	fmt.Fprintf(log, "==> importing %s into %s (%s)\n", image.Short(j.Fingerprint), client.Where, client.Daemon)
	start := time.Now()
	progress := output.StartProgress(d.Log, d.TTY, "upload", "sent")
	res, err := lxd.Import(ctx, client, lxd.ImportOptions{
		Dir: dir, Image: j, Aliases: d.aliasesFor(j),
		Replace: d.Replace, Public: d.Public,
		Progress: func(sent, _ int64) { progress.Set(sent) },
	})
	progress.Stop()
	if err != nil {
		return Result{}, err
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
	out := Result{Fingerprint: res.Fingerprint, Where: res.Where, Uploaded: res.Uploaded, Import: &res}
	for _, c := range res.Aliases {
		out.Aliases = append(out.Aliases, c.Name)
	}
	return out, nil
}

// aliasesFor is what the image is named: Aliases, or the image name,
// plus the recipe's own aliases.
func (d *Daemon) aliasesFor(j image.ImageJSON) []string {
	names := slices.Clone(d.Aliases)
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

// Connect reaches the daemon the settings name, the remote or the first
// local socket that answers, and checks it trusts us.
func (d *Daemon) Connect(ctx context.Context) (*lxd.Client, error) {
	c, err := lxd.Dial(ctx, lxd.DialOptions{Daemon: d.Daemon, Remote: d.Remote, ClientCert: d.ClientCert, ClientKey: d.ClientKey,
		ServerCert: d.ServerCert, Project: d.Project, LookupEnv: d.LookupEnv})
	var settings *lxd.SettingsError
	if errors.As(err, &settings) {
		return nil, &SettingsError{settings.Err}
	}
	return c, err
}

func totalSize(j image.ImageJSON) int64 {
	var n int64
	for _, f := range j.Files {
		n += f.Size
	}
	return n
}
