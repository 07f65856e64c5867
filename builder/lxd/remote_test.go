package lxd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClientConfigDir(t *testing.T) {
	home := t.TempDir()
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	if got := ClientConfigDir(LXD, nil, home); got != filepath.Join(home, ".config", "lxc") {
		t.Errorf("LXD default: %s", got)
	}
	if got := ClientConfigDir(LXD, env(map[string]string{"LXD_CONF": "/c"}), home); got != "/c" {
		t.Errorf("LXD_CONF: %s", got)
	}
	if got := ClientConfigDir(Incus, env(map[string]string{"LXD_CONF": "/c"}), home); got != filepath.Join(home, ".config", "incus") {
		t.Errorf("Incus ignores LXD_CONF: %s", got)
	}
	if got := ClientConfigDir(Incus, env(map[string]string{"INCUS_CONF": "/i"}), home); got != "/i" {
		t.Errorf("INCUS_CONF: %s", got)
	}
	snap := filepath.Join(home, "snap", "lxd", "common", "config")
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := ClientConfigDir(LXD, nil, home); got != snap {
		t.Errorf("snap client: %s", got)
	}
}

func TestResolveRemote(t *testing.T) {
	conf := t.TempDir()
	config := `remotes:
  prod:
    addr: https://images.example.test:9443
    protocol: lxd
    project: nightly
  mirror:
    addr: https://mirror.example.test
    protocol: simplestreams
`
	if err := os.WriteFile(filepath.Join(conf, "config.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(conf, "servercerts"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "servercerts", "prod.crt"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	got, err := ResolveRemote("prod", conf, RemoteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := RemoteOptions{
		URL: "https://images.example.test:9443", Project: "nightly",
		ServerCert: filepath.Join(conf, "servercerts", "prod.crt"),
		ClientCert: filepath.Join(conf, "client.crt"), ClientKey: filepath.Join(conf, "client.key"),
	}
	if got != want {
		t.Errorf("named remote:\n got %+v\nwant %+v", got, want)
	}

	got, err = ResolveRemote("https://10.0.0.1", conf, RemoteOptions{ClientCert: "/c.crt", ClientKey: "/c.key", Project: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if got.URL != "https://10.0.0.1:8443" || got.ServerCert != "" || got.ClientCert != "/c.crt" || got.Project != "p" {
		t.Errorf("URL remote: %+v", got)
	}
	if got, _ := ResolveRemote("https://[::1]", conf, RemoteOptions{}); got.URL != "https://[::1]:8443" {
		t.Errorf("IPv6 URL: %s", got.URL)
	}

	for spec, want := range map[string]string{
		"mirror":                "speaks simplestreams",
		"nosuch":                "is not in",
		"http://10.0.0.1:8443":  "want https://HOST[:PORT]",
		"https://10.0.0.1/path": "want https://HOST[:PORT]",
	} {
		if _, err := ResolveRemote(spec, conf, RemoteOptions{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ResolveRemote(%q) = %v, want an error with %q", spec, err, want)
		}
	}
}

func TestUnixClientNoDaemon(t *testing.T) {
	c := NewUnixClient(Socket{Daemon: LXD, Path: filepath.Join(t.TempDir(), "unix.socket")})
	_, err := c.Connect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no daemon is listening") {
		t.Errorf("Connect to a missing socket: %v", err)
	}
}

func TestRefusalHint(t *testing.T) {
	if h := refusalHint("Fingerprints do not match, got a expected b"); !strings.Contains(h, "rebuild") {
		t.Errorf("fingerprint mismatch hint: %q", h)
	}
	if h := refusalHint("Unsupported compression"); !strings.Contains(h, "compression") {
		t.Errorf("compression hint: %q", h)
	}
	if !isDuplicateImage("Image with same fingerprint already exists") || isDuplicateImage("disk full") {
		t.Error("isDuplicateImage")
	}
}
