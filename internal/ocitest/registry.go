// Package ocitest gives tests of the oci bootstrap a real registry
// (Debian's docker-registry, on a free loopback port, over HTTPS with a
// test CA, optionally behind a password) and the OCI images they push to
// it or write as a layout: layers made of tar entries or of a directory.
package ocitest

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/builder-images/builder/internal/testenv"
)

// Registry is a running docker-registry.
type Registry struct {
	// Host is 127.0.0.1:PORT, as image references name it.
	Host string
	// CAFile is the PEM certificate of the CA that signed the
	// registry's: SSL_CERT_FILE for a builder process.
	CAFile string
	// Client trusts CAFile only.
	Client *http.Client
	// Username and Password are what it requires, when it does.
	Username, Password string
}

// Options say how a registry starts.
type Options struct {
	// Password makes the registry require the user "builder" with it.
	Password string
}

// StartRegistry starts docker-registry for t with its storage in t's
// temporary directory, and stops it when t ends. It skips t (fails it
// under BUILDER_TEST_REQUIRE=1) when docker-registry is not installed.
func StartRegistry(t *testing.T, o Options) *Registry {
	t.Helper()
	bin := testenv.Command(t, "docker-registry", "docker-registry")
	dir := t.TempDir()
	r := &Registry{}
	r.CAFile, r.Client = writeCerts(t, dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.Host = l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	auth := ""
	if o.Password != "" {
		r.Username, r.Password = "builder", o.Password
		hash, err := bcrypt.GenerateFromPassword([]byte(o.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "htpasswd"), r.Username+":"+string(hash)+"\n")
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: builder-test\n    path: %s\n", filepath.Join(dir, "htpasswd"))
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: builder-test-secret
  tls:
    certificate: %s
    key: %s
%s`, filepath.Join(dir, "storage"), r.Host, filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"), auth)
	writeFile(t, filepath.Join(dir, "config.yml"), config)
	log, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // its storage is t's temporary directory
		_ = cmd.Wait()
		log.Close()
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("docker-registry log:\n%s", out)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := r.Client.Get("https://" + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry on %s did not answer: %v", r.Host, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeCerts writes a CA (ca.pem) and a server certificate for
// 127.0.0.1 signed by it (server.pem, server.key) into dir, and returns
// the CA file and a client trusting it alone.
func writeCerts(t *testing.T, dir string) (string, *http.Client) {
	t.Helper()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "builder test registry CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	ca, caKey := testenv.Cert(t, caTmpl, nil, nil)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	srv, srvKey := testenv.Cert(t, srvTmpl, ca, caKey)
	writeFile(t, filepath.Join(dir, "ca.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})))
	writeFile(t, filepath.Join(dir, "server.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Raw})))
	der, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "server.key"), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})))
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: pool}
	return filepath.Join(dir, "ca.pem"), &http.Client{Transport: transport}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
