package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Daemon is an LXD or Incus daemon on this machine that a test may use.
// testenv cannot import builder/lxd (that package's own tests import
// testenv), so Name is the string lxd.Daemon and --daemon spell.
type Daemon struct {
	// Name is "lxd" or "incus".
	Name string
	// CLI is the daemon's command-line client: lxc or incus. Both take
	// the same subcommands for what the tests do (image import, launch,
	// exec, list, delete).
	CLI string
	// Socket is the unix socket that answered.
	Socket string
	// Version is the daemon's server_version.
	Version string
}

// Args returns the --daemon flag that makes builder pick d.
func (d Daemon) Args() []string { return []string{"--daemon", d.Name} }

// DaemonsVar restricts Daemons to a comma-separated list of names, to run
// one daemon's tests alone (BUILDER_TEST_DAEMONS=incus go test -run …).
const DaemonsVar = "BUILDER_TEST_DAEMONS"

// knownDaemon is a daemon the tests know: its name, client, what
// installs it and what starts it.
type knownDaemon struct{ name, cli, pkg, start string }

// knownDaemons are the daemons the tests know, in the order they run:
// LXD first, as the tests always ran against it.
func knownDaemons() []knownDaemon {
	return []knownDaemon{
		{"lxd", "lxc", "lxd", "ci/start-lxd.sh"},
		{"incus", "incus", "incus-base and incus-client from bookworm-backports (ci/install-deps.sh)", "ci/start-incus.sh"},
	}
}

// Daemons returns the daemons whose sockets answer GET /1.0, LXD then
// Incus, for tests that run once per daemon (t.Run(d.Name, …)). It needs
// root. With none answering it skips t; with BUILDER_TEST_REQUIRE=1 every
// daemon (every one BUILDER_TEST_DAEMONS names, when set) must answer.
func Daemons(t testing.TB) []Daemon {
	t.Helper()
	Root(t)
	want := wantedDaemons()
	var found []Daemon
	var missing []string
	for _, k := range knownDaemons() {
		if !slices.Contains(want, k.name) {
			continue
		}
		d, err := probeDaemon(k.name, k.cli)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s (%v; install %s and run %s)", k.name, err, k.pkg, k.start))
			continue
		}
		found = append(found, d)
	}
	if len(missing) > 0 && Required() {
		t.Fatalf("needs a running daemon: %s; BUILDER_TEST_REQUIRE=1 is set", strings.Join(missing, "; "))
	}
	if len(found) == 0 {
		Need(t, false, "needs a running LXD or Incus daemon: "+strings.Join(missing, "; "))
	}
	for _, m := range missing {
		t.Logf("not tested against %s", m)
	}
	return found
}

// NeedDaemon returns the daemon named name, or skips t (fails it with
// BUILDER_TEST_REQUIRE=1) when it does not answer.
func NeedDaemon(t testing.TB, name string) Daemon {
	t.Helper()
	Root(t)
	for _, k := range knownDaemons() {
		if k.name != name {
			continue
		}
		d, err := probeDaemon(k.name, k.cli)
		Need(t, err == nil, fmt.Sprintf("needs a running %s daemon (%v; install %s and run %s)", name, err, k.pkg, k.start))
		return d
	}
	t.Fatalf("testenv: unknown daemon %q", name)
	return Daemon{}
}

func wantedDaemons() []string {
	v := os.Getenv(DaemonsVar)
	if v == "" {
		return []string{"lxd", "incus"}
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		out = append(out, strings.TrimSpace(s))
	}
	return out
}

// probeDaemon finds the daemon's socket as its client does and asks it
// who it is: a socket file left by a dead daemon, or one answered by the
// other daemon (a mistaken $INCUS_SOCKET), is no daemon to test against.
func probeDaemon(name, cli string) (Daemon, error) {
	if _, err := exec.LookPath(cli); err != nil {
		return Daemon{}, fmt.Errorf("no %s command", cli)
	}
	var tried []string
	for _, sock := range socketCandidates(name) {
		if _, err := os.Stat(sock); err != nil {
			tried = append(tried, sock+" missing")
			continue
		}
		server, version, err := serverInfo(sock)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", sock, err))
			continue
		}
		if server != name {
			return Daemon{}, fmt.Errorf("%s is answered by %s, not %s", sock, server, name)
		}
		return Daemon{Name: name, CLI: cli, Socket: sock, Version: version}, nil
	}
	return Daemon{}, fmt.Errorf("%s", strings.Join(tried, ", "))
}

// socketCandidates are the sockets the daemon's own client would try,
// most specific first (builder/lxd.Finder has the full rules; the tests
// need only these).
func socketCandidates(name string) []string {
	var out []string
	prefix := strings.ToUpper(name)
	if s := os.Getenv(prefix + "_SOCKET"); s != "" {
		return []string{s}
	}
	if dir := os.Getenv(prefix + "_DIR"); dir != "" {
		return []string{filepath.Join(dir, "unix.socket")}
	}
	if name == "lxd" {
		out = append(out, "/var/snap/lxd/common/lxd/unix.socket", "/var/lib/lxd/unix.socket")
	} else {
		out = append(out, "/run/incus/unix.socket", "/var/lib/incus/unix.socket")
	}
	return out
}

// serverInfo returns GET /1.0's environment.server and server_version.
func serverInfo(sock string) (server, version string, err error) {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://unix.socket/1.0", nil)
	if err != nil {
		return "", "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var body struct {
		Metadata struct {
			Environment struct {
				Server        string `json:"server"`
				ServerVersion string `json:"server_version"`
			} `json:"environment"`
		} `json:"metadata"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", "", fmt.Errorf("GET /1.0: %w", err)
	}
	env := body.Metadata.Environment
	if env.Server == "" {
		return "", "", fmt.Errorf("GET /1.0: HTTP %d, no environment (not trusted?)", resp.StatusCode)
	}
	return env.Server, env.ServerVersion, nil
}
