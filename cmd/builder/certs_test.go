package main

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"

	"github.com/builder-images/builder/internal/testenv"
)

// testCert makes a key and a certificate for tmpl, signed by parent with
// parentKey, or self-signed when parent is nil (testenv.Cert).
func testCert(t *testing.T, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	return testenv.Cert(t, tmpl, parent, parentKey)
}

// writePEM writes a certificate and, when keyPath is set, its key.
func writePEM(t *testing.T, cert *x509.Certificate, key *ecdsa.PrivateKey, certPath, keyPath string) {
	t.Helper()
	write := func(path, typ string, der []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(certPath, "CERTIFICATE", cert.Raw)
	if keyPath != "" {
		der, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		write(keyPath, "EC PRIVATE KEY", der)
	}
}
