package lxd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// DialOptions name a daemon: a remote over HTTPS, or the first local
// socket that answers. Import and bootstrap "image" reach daemons alike.
type DialOptions struct {
	// Daemon is "lxd", "incus" or empty: the first local daemon whose
	// socket answers, LXD first; for a remote, the client whose
	// configuration names it (LXD's when empty).
	Daemon string
	// Remote is https://HOST[:PORT] or a remote named in the client
	// configuration; empty means a local socket.
	Remote string
	// ClientCert, ClientKey and ServerCert go with Remote (see
	// RemoteOptions); the client's own by default.
	ClientCert, ClientKey, ServerCert string
	// Project is the project to use; empty is the default one.
	Project string
	// LookupEnv reads the environment (sockets, client configuration,
	// HOME), with os.LookupEnv's signature; nil reads nothing.
	LookupEnv func(string) (string, bool)
}

// SettingsError is DialOptions that cannot work, found before any
// daemon was asked.
type SettingsError struct{ Err error }

func (e *SettingsError) Error() string { return e.Err.Error() }
func (e *SettingsError) Unwrap() error { return e.Err }

// Dial reaches the daemon the options name, the remote or the first
// local socket that answers, and checks it trusts us.
func Dial(ctx context.Context, o DialOptions) (*Client, error) {
	if o.Daemon != "" && o.Daemon != string(LXD) && o.Daemon != string(Incus) {
		return nil, &SettingsError{fmt.Errorf("the daemon must be lxd or incus, not %q", o.Daemon)}
	}
	lookup := o.LookupEnv
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	if o.Remote != "" {
		return dialRemote(ctx, o, lookup)
	}
	if o.ClientCert != "" || o.ClientKey != "" || o.ServerCert != "" {
		return nil, &SettingsError{errors.New("--client-cert, --client-key and --server-cert go with --remote")}
	}
	sockets, _ := Finder{LookupEnv: lookup}.FindAll(ctx)
	var tried []string
	for _, s := range sockets {
		if o.Daemon != "" && string(s.Daemon) != o.Daemon {
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
		client := NewUnixClient(s)
		if o.Project != "" {
			client.Project = o.Project
		}
		if _, err := client.Connect(ctx); err != nil {
			return nil, err
		}
		return client, nil
	}
	return nil, fmt.Errorf("no LXD or Incus daemon answers on this machine; start one (ci/start-lxd.sh does it for the tests) or use --remote:\n  %s", strings.Join(tried, "\n  "))
}

// dialRemote reaches Remote over HTTPS, with the certificates the
// options or the client configuration name.
func dialRemote(ctx context.Context, o DialOptions, lookup func(string) (string, bool)) (*Client, error) {
	daemon := Daemon(o.Daemon)
	if daemon == "" {
		daemon = LXD
	}
	home, _ := lookup("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	ropts, err := ResolveRemote(o.Remote, ClientConfigDir(daemon, lookup, home), RemoteOptions{
		ClientCert: o.ClientCert, ClientKey: o.ClientKey, ServerCert: o.ServerCert, Project: o.Project,
	})
	if err != nil {
		return nil, &SettingsError{err}
	}
	client, err := NewRemoteClient(ropts)
	if err != nil {
		return nil, err
	}
	if _, err := client.Connect(ctx); err != nil {
		return nil, err
	}
	return client, nil
}
