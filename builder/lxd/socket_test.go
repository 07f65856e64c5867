package lxd

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func envOf(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// touch creates path (and its directories) as a plain file: the rules
// only look at existence and writability.
func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o666); err != nil {
		t.Fatal(err)
	}
}

func TestLocate(t *testing.T) {
	user := fmt.Sprintf("user-%d", os.Geteuid())
	tests := []struct {
		name    string
		daemon  Daemon
		files   []string // created under the fake root
		env     []string
		path    string // relative to the fake root, or absolute
		from    string
		project string
	}{
		{"lxd default", LXD, nil, nil, "var/lib/lxd/unix.socket", "default", ""},
		{"lxd snap when writable", LXD, []string{"var/snap/lxd/common/lxd/unix.socket", "var/lib/lxd/unix.socket"}, nil, "var/snap/lxd/common/lxd/unix.socket", "default", ""},
		{"lxd LXD_DIR", LXD, []string{"var/snap/lxd/common/lxd/unix.socket"}, []string{"LXD_DIR", "/srv/lxd"}, "/srv/lxd/unix.socket", "$LXD_DIR", ""},
		{"lxd LXD_SOCKET wins", LXD, nil, []string{"LXD_DIR", "/srv/lxd", "LXD_SOCKET", "/tmp/x.sock"}, "/tmp/x.sock", "$LXD_SOCKET", ""},
		{"lxd empty values are unset", LXD, nil, []string{"LXD_DIR", "", "LXD_SOCKET", ""}, "var/lib/lxd/unix.socket", "default", ""},
		{"incus default", Incus, nil, nil, "var/lib/incus/unix.socket", "default", ""},
		{"incus /run when it exists", Incus, []string{"run/incus/unix.socket", "var/lib/incus/unix.socket"}, nil, "run/incus/unix.socket", "default", ""},
		{"incus user socket", Incus, []string{"var/lib/incus/unix.socket.user"}, nil, "var/lib/incus/unix.socket.user", "default", user},
		{"incus main socket preferred", Incus, []string{"var/lib/incus/unix.socket", "var/lib/incus/unix.socket.user"}, nil, "var/lib/incus/unix.socket", "default", ""},
		{"incus INCUS_DIR", Incus, []string{"run/incus/unix.socket"}, []string{"INCUS_DIR", "/srv/incus"}, "/srv/incus/unix.socket", "$INCUS_DIR", ""},
		{"incus INCUS_SOCKET wins", Incus, nil, []string{"INCUS_DIR", "/srv/incus", "INCUS_SOCKET", "/tmp/i.sock"}, "/tmp/i.sock", "$INCUS_SOCKET", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for _, f := range tt.files {
				touch(t, filepath.Join(root, f))
			}
			s, err := Finder{LookupEnv: envOf(tt.env...), Root: root}.Locate(tt.daemon)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.path
			if !filepath.IsAbs(want) {
				want = filepath.Join(root, want)
			}
			if s.Daemon != tt.daemon || s.Path != want || s.From != tt.from || s.Project != tt.project {
				t.Errorf("got %+v, want path %s from %s project %q", s, want, tt.from, tt.project)
			}
		})
	}
	t.Run("incus user socket under INCUS_DIR", func(t *testing.T) {
		dir := t.TempDir()
		touch(t, filepath.Join(dir, "unix.socket.user"))
		s, _ := Finder{LookupEnv: envOf("INCUS_DIR", dir)}.Locate(Incus)
		if s.Path != filepath.Join(dir, "unix.socket.user") || s.Project != user {
			t.Errorf("got %+v", s)
		}
	})
	if _, err := (Finder{}).Locate("docker"); err == nil {
		t.Error("unknown daemon located")
	}
}

// TestFind dials a real listening socket, a path that is not a socket
// and one that does not exist.
func TestFind(t *testing.T) {
	// Unix socket paths are short (108 bytes): not t.TempDir's long name.
	dir, err := os.MkdirTemp("", "lxd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "unix.socket")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{})
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
			close(accepted)
		}
	}()
	ctx := context.Background()
	f := Finder{LookupEnv: envOf("LXD_SOCKET", sock, "INCUS_DIR", dir), DialTimeout: time.Second}
	for _, d := range []Daemon{LXD, Incus} {
		s, err := f.Find(ctx, d)
		if err != nil || s.Path != sock || !s.Exists || !s.Connectable || s.DialErr != nil {
			t.Errorf("%s: %+v, %v", d, s, err)
		}
	}
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Error("the listener saw no connection")
	}

	plain := filepath.Join(dir, "plain")
	touch(t, plain)
	all, err := Finder{LookupEnv: envOf("LXD_SOCKET", plain, "INCUS_SOCKET", filepath.Join(dir, "missing"))}.FindAll(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("FindAll: %+v, %v", all, err)
	}
	if s := all[0]; s.Daemon != LXD || !s.Exists || s.Connectable || s.DialErr == nil {
		t.Errorf("not a socket: %+v", s)
	}
	if s := all[1]; s.Daemon != Incus || s.Exists || s.Connectable || !os.IsNotExist(s.DialErr) {
		t.Errorf("missing: %+v", s)
	}

	// A socket file whose listener is gone refuses connections.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if s, _ := f.Find(ctx, LXD); !s.Exists || s.Connectable || s.DialErr == nil {
		t.Errorf("closed listener: %+v", s)
	}
}
