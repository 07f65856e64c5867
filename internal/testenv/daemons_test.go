package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDaemons finds this machine's daemons: each must be the daemon its
// socket's name says and report a version.
func TestDaemons(t *testing.T) {
	for _, d := range Daemons(t) {
		if d.Version == "" || d.Socket == "" {
			t.Errorf("%+v: no version or socket", d)
		}
		t.Logf("%s %s at %s (%s)", d.Name, d.Version, d.Socket, d.CLI)
	}
}

// TestProbeDaemonDeadSocket: a socket file nobody listens on is no
// daemon, and the error names it.
func TestProbeDaemonDeadSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "unix.socket")
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("INCUS_SOCKET", sock)
	if _, err := probeDaemon("incus", "sh"); err == nil {
		t.Fatal("a dead socket answered")
	}
}
