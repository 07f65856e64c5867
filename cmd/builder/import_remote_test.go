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
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/testenv"
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

// listenOnLoopback makes the daemon listen on a free loopback port for
// the test's duration and returns its address.
func listenOnLoopback(t *testing.T, d testenv.Daemon) string {
	t.Helper()
	if prev := strings.TrimSpace(cli(t, d, "config", "get", "core.https_address")); prev != "" {
		t.Skipf("%s already listens on %s; not changing it", d.Name, prev)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cli(t, d, "config", "set", "core.https_address", addr)
	cliLater(t, d, "config", "unset", "core.https_address")
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s: %v", d.Name, addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serverCert is the daemon's own certificate, which a client pins.
func serverCert(d testenv.Daemon) string {
	prefix := strings.ToUpper(d.Name)
	dir := os.Getenv(prefix + "_DIR")
	if dir == "" {
		dir = "/var/lib/" + d.Name
	}
	return filepath.Join(dir, "server.crt")
}

// TestImportRemote uploads over HTTPS, to LXD and to Incus, with a client
// certificate the daemon trusts: by URL with a pinned server certificate,
// and by the name of a remote in the client's configuration (lxc's, or
// incus's with --daemon incus). An untrusted certificate, a server
// certificate other than the pinned one, and a self-signed server without
// a pin are refused.
func TestImportRemote(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	daemons := testenv.Daemons(t)
	out := filepath.Join(t.TempDir(), "out")
	runBuilder(t, nil, "build", "recipes/busybox.hcl", "--type", "split", "-o", out)
	for _, d := range daemons {
		t.Run(d.Name, func(t *testing.T) { testImportRemote(t, d, out) })
	}
}

func testImportRemote(t *testing.T, d testenv.Daemon, out string) {
	fp := readImageJSON(t, out).Fingerprint
	deleteImageLaterOn(t, d, fp)

	url, conf := trustedRemote(t, d)
	suffix := uniqueSuffix()
	env := []string{confVar(d) + "=" + conf}
	daemonArgs := d.Args()
	run := func(env []string, args ...string) (string, string, int) {
		return builderExec(t, env, append(args, daemonArgs...)...)
	}

	untrusted := filepath.Join(t.TempDir(), "untrusted")
	writeClientCert(t, untrusted)
	_, stderr, status := run([]string{confVar(d) + "=" + untrusted}, "import", out, "--remote", url, "--server-cert", serverCert(d))
	if status != 1 || !strings.Contains(stderr, "does not trust this client") {
		t.Errorf("untrusted client: exit %d\n%s", status, stderr)
	}
	_, stderr, status = run(env, "import", out, "--remote", url, "--server-cert", filepath.Join(conf, "client.crt"))
	if status != 1 || !strings.Contains(stderr, "is not the one in") {
		t.Errorf("wrong pinned server certificate: exit %d\n%s", status, stderr)
	}
	_, stderr, status = run(env, "import", out, "--remote", url)
	if status != 1 || !strings.Contains(stderr, "certificate") {
		t.Errorf("self-signed server without a pin: exit %d\n%s", status, stderr)
	}

	alias := "builder-test-remote-" + suffix
	stdout, stderr, status := run(env, "import", out, "--json", "--remote", url, "--server-cert", serverCert(d),
		"--alias", alias, "--public", "--project", "default")
	if status != 0 || !strings.Contains(stdout, `"uploaded": true`) {
		t.Fatalf("remote import: exit %d\n%s\n%s", status, stdout, stderr)
	}
	info := cli(t, d, "image", "info", alias)
	for _, want := range []string{"Fingerprint: " + fp, "Public: yes"} {
		if !strings.Contains(info, want) {
			t.Errorf("%s image info lacks %q:\n%s", d.CLI, want, info)
		}
	}

	// A remote by name: its address from config.yml, its certificate from
	// servercerts/ (see trustedRemote).
	stdout, stderr, status = run(env, "import", out, "--json", "--remote", "buildertest", "--alias", alias)
	if status != 0 || !strings.Contains(stdout, `"uploaded": false`) || !strings.Contains(stdout, `"unchanged"`) {
		t.Errorf("import to a named remote: exit %d\n%s\n%s", status, stdout, stderr)
	}
}

// trustedRemote makes d listen on a loopback port for the test's
// duration and writes a client configuration directory whose client
// certificate d trusts and whose remote "buildertest" names d, with its
// server certificate pinned, as 'lxc remote add' (or 'incus remote add')
// leaves them. It returns d's URL and the directory, for LXD_CONF or
// INCUS_CONF.
func trustedRemote(t *testing.T, d testenv.Daemon) (url, conf string) {
	t.Helper()
	url = "https://" + listenOnLoopback(t, d)
	conf = filepath.Join(t.TempDir(), d.CLI)
	certFP := writeClientCert(t, conf)
	trustAdd := "add"
	if d.Name == "incus" {
		// Incus's "trust add" makes a join token; a certificate file
		// is "add-certificate".
		trustAdd = "add-certificate"
	}
	cli(t, d, "config", "trust", trustAdd, filepath.Join(conf, "client.crt"), "--name", "builder-test-"+uniqueSuffix())
	cliLater(t, d, "config", "trust", "remove", certFP)
	config := fmt.Sprintf("remotes:\n  buildertest:\n    addr: %s\n    protocol: %s\n    auth_type: tls\n", url, d.Name)
	if err := os.WriteFile(filepath.Join(conf, "config.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(conf, "servercerts"), 0o700); err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(serverCert(d))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "servercerts", "buildertest.crt"), pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return url, conf
}
