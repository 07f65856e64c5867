package main

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeClientCert writes a self-signed client certificate and key, as
// 'lxc remote add' creates them, into dir/client.crt and dir/client.key,
// and returns the certificate's fingerprint as LXD names it.
func writeClientCert(t *testing.T, dir string) string {
	t.Helper()
	cert, key := testCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "builder-test"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, nil, nil)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	writePEM(t, cert, key, filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"))
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// listenLXDOnLoopback makes the daemon listen on a free loopback port
// for the test's duration and returns its address.
func listenLXDOnLoopback(t *testing.T) string {
	t.Helper()
	if prev := strings.TrimSpace(lxc(t, "config", "get", "core.https_address")); prev != "" {
		t.Skipf("the daemon already listens on %s; not changing it", prev)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	lxc(t, "config", "set", "core.https_address", addr)
	t.Cleanup(func() { _ = exec.Command("lxc", "config", "unset", "core.https_address").Run() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("LXD does not listen on %s: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lxdServerCert() string {
	dir := os.Getenv("LXD_DIR")
	if dir == "" {
		dir = "/var/lib/lxd"
	}
	return filepath.Join(dir, "server.crt")
}

// TestImportRemote uploads over HTTPS with a client certificate the
// daemon trusts: by URL with a pinned server certificate, and by the name
// of a remote in the client's configuration. An untrusted certificate, a
// server certificate other than the pinned one, and a self-signed server
// without a pin are refused.
func TestImportRemote(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	requireLXD(t)
	out := filepath.Join(t.TempDir(), "out")
	runBuilder(t, nil, "build", "recipes/busybox.hcl", "--type", "split", "-o", out)
	fp := readImageJSON(t, out).Fingerprint
	deleteImageLater(t, fp)

	addr := listenLXDOnLoopback(t)
	url := "https://" + addr
	conf := filepath.Join(t.TempDir(), "lxc")
	certFP := writeClientCert(t, conf)
	suffix := uniqueSuffix()
	lxc(t, "config", "trust", "add", filepath.Join(conf, "client.crt"), "--name", "builder-test-"+suffix)
	t.Cleanup(func() { _ = exec.Command("lxc", "config", "trust", "remove", certFP).Run() })
	env := []string{"LXD_CONF=" + conf}

	untrusted := filepath.Join(t.TempDir(), "untrusted")
	writeClientCert(t, untrusted)
	_, stderr, status := builderExec(t, []string{"LXD_CONF=" + untrusted}, "import", out, "--remote", url, "--server-cert", lxdServerCert())
	if status != 1 || !strings.Contains(stderr, "does not trust this client") {
		t.Errorf("untrusted client: exit %d\n%s", status, stderr)
	}
	_, stderr, status = builderExec(t, env, "import", out, "--remote", url, "--server-cert", filepath.Join(conf, "client.crt"))
	if status != 1 || !strings.Contains(stderr, "is not the one in") {
		t.Errorf("wrong pinned server certificate: exit %d\n%s", status, stderr)
	}
	_, stderr, status = builderExec(t, env, "import", out, "--remote", url)
	if status != 1 || !strings.Contains(stderr, "certificate") {
		t.Errorf("self-signed server without a pin: exit %d\n%s", status, stderr)
	}

	alias := "builder-test-remote-" + suffix
	stdout, stderr, status := builderExec(t, env, "import", out, "--json", "--remote", url, "--server-cert", lxdServerCert(),
		"--alias", alias, "--public", "--project", "default")
	if status != 0 || !strings.Contains(stdout, `"uploaded": true`) {
		t.Fatalf("remote import: exit %d\n%s\n%s", status, stdout, stderr)
	}
	info := lxc(t, "image", "info", alias)
	for _, want := range []string{"Fingerprint: " + fp, "Public: yes"} {
		if !strings.Contains(info, want) {
			t.Errorf("lxc image info lacks %q:\n%s", want, info)
		}
	}

	// A remote by name: its address from config.yml, its certificate from
	// servercerts/, as 'lxc remote add' leaves them.
	config := fmt.Sprintf("remotes:\n  buildertest:\n    addr: %s\n    protocol: lxd\n    auth_type: tls\n", url)
	if err := os.WriteFile(filepath.Join(conf, "config.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(conf, "servercerts"), 0o700); err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(lxdServerCert())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "servercerts", "buildertest.crt"), pem, 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, status = builderExec(t, env, "import", out, "--json", "--remote", "buildertest", "--alias", alias)
	if status != 0 || !strings.Contains(stdout, `"uploaded": false`) || !strings.Contains(stdout, `"unchanged"`) {
		t.Errorf("import to a named remote: exit %d\n%s\n%s", status, stdout, stderr)
	}
}
