package main

import (
	"bufio"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestServePublicURLFlags: --public-url must be an https URL without
// credentials, and --max-connections at least 1; both are usage errors
// that name the flag, and the credentials are never echoed.
func TestServePublicURLFlags(t *testing.T) {
	dir := t.TempDir()
	_, cert, key := testCA(t, dir)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--public-url", "http://images.example.org"}, "--public-url: the public URL http://images.example.org must be https://HOST[:PORT][/PATH]"},
		{[]string{"--public-url", "https://user:s3cret@images.example.org"}, "--public-url: the public URL https://user:xxxxx@images.example.org must be"},
		{[]string{"--max-connections", "0"}, "--max-connections must be at least 1"},
	} {
		args := append([]string{"serve", dir, "--addr", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key}, tt.args...)
		_, stderr, code := runCLI(t, "", nil, args...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) || strings.Contains(stderr, "s3cret") {
			t.Errorf("builder %s: exit %d, want %d with %q:\n%s", strings.Join(tt.args, " "), code, exitUsage, tt.want, stderr)
		}
	}
}

// TestServeSaysItsPublicURL: with --public-url the server says where its
// image URLs point.
func TestServeSaysItsPublicURL(t *testing.T) {
	dir := t.TempDir()
	_, cert, key := testCA(t, dir)
	cmd := exec.Command(builderBinary(t), "serve", dir, "--addr", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key, "--public-url", "https://images.example.org/mirror")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	var got []string
	for len(got) < 2 && lines.Scan() {
		got = append(got, lines.Text())
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	for lines.Scan() {
		got = append(got, lines.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("builder serve: %v", err)
	}
	if len(got) < 3 || !strings.HasPrefix(got[0], "serving "+dir+" on https://127.0.0.1:") || got[1] != "image URLs below https://images.example.org/mirror" || got[2] != "stopped" {
		t.Errorf("builder serve said:\n%s", strings.Join(got, "\n"))
	}
}

func TestDefaultPublicURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8443": "https://127.0.0.1:8443/",
		"[::1]:443":      "https://[::1]:443/",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := defaultPublicURL(a); err != nil || got.String() != want {
			t.Errorf("defaultPublicURL(%s) = %v, %v; want %s", addr, got, err, want)
		}
	}
	a, _ := net.ResolveTCPAddr("tcp", "0.0.0.0:8443")
	if got, err := defaultPublicURL(a); err != nil || strings.Contains(got.Host, "0.0.0.0") || got.Port() != "8443" {
		t.Errorf("defaultPublicURL(0.0.0.0:8443) = %v, %v; want this host's name", got, err)
	}
}
