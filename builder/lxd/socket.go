// Package lxd will hold builder's LXD/Incus REST client: the unix socket
// and HTTPS transports, image upload, aliases and operations, for the
// import and upload commands.
//
// Start with Finder: it decides which unix socket a local client talks
// to, by the same rules as the lxc and incus command-line clients, so
// builder reaches the daemon the user's own tools reach.
package lxd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Daemon is LXD or Incus.
type Daemon string

// The daemons builder delivers to.
const (
	LXD   Daemon = "lxd"
	Incus Daemon = "incus"
)

// DefaultDialTimeout bounds the connection attempt of Finder.Find.
const DefaultDialTimeout = 2 * time.Second

// Finder locates the local daemons' sockets.
type Finder struct {
	// LookupEnv reads the environment, with os.LookupEnv's signature; nil
	// means an empty environment. An empty value counts as unset, as it
	// does for the daemons' own clients.
	LookupEnv func(string) (string, bool)
	// Root is prefixed to the built-in paths (/var/lib/lxd, /run/incus, …),
	// never to paths the environment gives; empty means "/". Tests point
	// it at a fake tree.
	Root string
	// DialTimeout bounds the connection attempt; 0 means DefaultDialTimeout.
	DialTimeout time.Duration
}

// Socket is where a daemon's socket is expected and what was found there.
type Socket struct {
	Daemon Daemon
	Path   string
	// From says which rule chose Path: "$LXD_SOCKET", "$LXD_DIR",
	// "$INCUS_SOCKET", "$INCUS_DIR", or "default".
	From string
	// Project is set when Path is Incus's unix.socket.user (incus-user),
	// which serves one project per user: "user-<uid>".
	Project string
	// Exists is true when Path exists; Connectable when a connection to
	// it succeeded. DialErr is why it did not.
	Exists      bool
	Connectable bool
	DialErr     error
}

// Locate applies the daemon's client rules, without touching the socket
// beyond the existence and write checks the rules themselves make:
//
// LXD: $LXD_SOCKET, else $LXD_DIR/unix.socket, else
// /var/snap/lxd/common/lxd/unix.socket if writable, else
// /var/lib/lxd/unix.socket.
//
// Incus: $INCUS_SOCKET, else $INCUS_DIR/unix.socket, else
// /run/incus/unix.socket if it exists, else /var/lib/incus/unix.socket;
// when the directory-derived socket is not writable but unix.socket.user
// beside it is, that one (incus-user), in project user-<uid>.
func (f Finder) Locate(d Daemon) (Socket, error) {
	switch d {
	case LXD:
		if p := f.env("LXD_SOCKET"); p != "" {
			return Socket{Daemon: d, Path: p, From: "$LXD_SOCKET"}, nil
		}
		if dir := f.env("LXD_DIR"); dir != "" {
			return Socket{Daemon: d, Path: filepath.Join(dir, "unix.socket"), From: "$LXD_DIR"}, nil
		}
		if snap := f.root("/var/snap/lxd/common/lxd/unix.socket"); writable(snap) {
			return Socket{Daemon: d, Path: snap, From: "default"}, nil
		}
		return Socket{Daemon: d, Path: f.root("/var/lib/lxd/unix.socket"), From: "default"}, nil
	case Incus:
		if p := f.env("INCUS_SOCKET"); p != "" {
			return Socket{Daemon: d, Path: p, From: "$INCUS_SOCKET"}, nil
		}
		s := Socket{Daemon: d, From: "$INCUS_DIR"}
		dir := f.env("INCUS_DIR")
		if dir == "" {
			s.From = "default"
			dir = f.root("/var/lib/incus")
			if run := f.root("/run/incus"); exists(filepath.Join(run, "unix.socket")) {
				dir = run
			}
		}
		s.Path = filepath.Join(dir, "unix.socket")
		if user := filepath.Join(dir, "unix.socket.user"); !writable(s.Path) && writable(user) {
			s.Path = user
			s.Project = fmt.Sprintf("user-%d", os.Geteuid())
		}
		return s, nil
	}
	return Socket{}, fmt.Errorf("unknown daemon %q; known: lxd, incus", d)
}

// Find locates the daemon's socket and tries to connect to it. A socket
// that accepts a connection has a daemon listening; whether it speaks the
// API is for the client to find out.
func (f Finder) Find(ctx context.Context, d Daemon) (Socket, error) {
	s, err := f.Locate(d)
	if err != nil {
		return s, err
	}
	if _, err := os.Stat(s.Path); err != nil {
		s.DialErr = err
		return s, nil
	}
	s.Exists = true
	timeout := f.DialTimeout
	if timeout == 0 {
		timeout = DefaultDialTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "unix", s.Path)
	if err != nil {
		s.DialErr = err
		return s, nil
	}
	s.Connectable = true
	return s, conn.Close()
}

// FindAll finds LXD's socket, then Incus's.
func (f Finder) FindAll(ctx context.Context) ([]Socket, error) {
	var out []Socket
	var errs []error
	for _, d := range []Daemon{LXD, Incus} {
		s, err := f.Find(ctx, d)
		out = append(out, s)
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

func (f Finder) env(name string) string {
	if f.LookupEnv == nil {
		return ""
	}
	v, _ := f.LookupEnv(name)
	return v
}

func (f Finder) root(path string) string {
	if f.Root == "" {
		return path
	}
	return filepath.Join(f.Root, path)
}

// writable is the clients' test: access(2) with W_OK.
func writable(path string) bool { return unix.Access(path, unix.W_OK) == nil }

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
