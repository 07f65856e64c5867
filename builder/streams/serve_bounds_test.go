package streams

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"

	"github.com/builder-images/builder/internal/testenv"
)

// selfSigned is a certificate for 127.0.0.1 and the client that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *http.Client) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, client
}

// startServe serves dir with opts on a loopback port until the test
// ends, and returns its base URL, a client and the access log.
func startServe(t *testing.T, dir string, publicURL string, opts ServeOptions) (string, *http.Client, *testenv.SyncBuffer) {
	t.Helper()
	cert, client := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "https://" + ln.Addr().String()
	if publicURL == "" {
		publicURL = base
	}
	pub, err := url.Parse(publicURL)
	if err != nil {
		t.Fatal(err)
	}
	log := &testenv.SyncBuffer{}
	h, err := NewHandler(dir, HandlerOptions{PublicURL: pub, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h, cert, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := h.Close(); err != nil {
			t.Error(err)
		}
	})
	return base, client, log
}

// TestServeImportURLIsThePublicURL: the LXD-Image-URL a URL import
// answers with is built from the server's public URL, never from the
// request's Host header, which any client sets.
func TestServeImportURLIsThePublicURL(t *testing.T) {
	tr, dir := newDirTree(t)
	img := fakeImage(t, image.TypeUnified, "one", "20260101_0000", 1, time.Time{}, "bb")
	if _, err := tr.Publish(context.Background(), []string{img}, false); err != nil {
		t.Fatal(err)
	}
	ij, err := image.ReadImageJSON(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, public := range []string{"https://images.example.org:8443", "https://example.org/mirror/"} {
		base, client, _ := startServe(t, dir, public, ServeOptions{})
		req, _ := http.NewRequest(http.MethodHead, base+ImportPrefix+"bb", nil)
		req.Host = "attacker.example:666"
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := strings.TrimSuffix(public, "/") + "/images/" + ij.Fingerprint + ".tar.gz"
		for _, h := range []string{"LXD-Image-URL", "Incus-Image-URL"} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s with public URL %s: %q, want %q", h, public, got, want)
			}
		}
	}
}

// TestServeAccessLogEscapes: a newline in a URL path (%0a) cannot forge
// a line of the access log.
func TestServeAccessLogEscapes(t *testing.T) {
	_, dir := newDirTree(t)
	base, client, log := startServe(t, dir, "", ServeOptions{})
	resp, err := client.Get(base + "/x%0a6.6.6.6:1%20GET%20/forged%20200%0d")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
	if len(lines) != 1 || strings.Contains(log.String(), "\r") {
		t.Fatalf("one request made %d log lines:\n%s", len(lines), log.String())
	}
	if !strings.Contains(lines[0], "/x%0a6.6.6.6:1%20GET%20/forged%20200%0d 404") {
		t.Errorf("log line %q", lines[0])
	}
}

// bigFile puts a file of size bytes (zeros, sparse) at name in the tree.
func bigFile(t testing.TB, dir, name string, size int64) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestServeDropsStalledReaders: a client that requests a large file and
// stops reading is dropped once a write makes no progress for the
// stall timeout; one that keeps reading, however long the whole
// download takes, is not.
func TestServeDropsStalledReaders(t *testing.T) {
	_, dir := newDirTree(t)
	bigFile(t, dir, "big.img", 256<<20)
	bigFile(t, dir, "medium.img", 24<<20)
	base, client, log := startServe(t, dir, "", ServeOptions{WriteStall: time.Second})

	// Stalled: read the headers, then nothing.
	resp, err := client.Get(base + "/big.img")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(log.String(), "GET /big.img") {
		if time.Now().After(deadline) {
			t.Fatalf("a client that stopped reading still holds its request after 10 s; log:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n, _ := io.Copy(io.Discard, resp.Body); n >= 256<<20 {
		t.Errorf("the stalled client got the whole file")
	}

	// Slow but steady: 24 MiB in pauses shorter than the stall, 2 s or
	// more in all.
	resp, err = client.Get(base + "/medium.img")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got int64
	buf := make([]byte, 1<<20)
	for {
		n, err := io.ReadFull(resp.Body, buf)
		got += int64(n)
		if err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != 24<<20 {
		t.Errorf("a slow reader got %d bytes of 24 MiB", got)
	}
}

// TestServeConnectionCap: past MaxConns, a new connection waits until
// one closes; a connection that never completes its TLS handshake is
// closed after ReadTimeout.
func TestServeConnectionCap(t *testing.T) {
	_, dir := newDirTree(t)
	base, client, _ := startServe(t, dir, "", ServeOptions{MaxConns: 2, ReadTimeout: 10 * time.Second})
	addr := strings.TrimPrefix(base, "https://")
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		defer c.Close()
	}
	time.Sleep(100 * time.Millisecond) // both accepted
	client.Timeout = 700 * time.Millisecond
	if resp, err := client.Get(base + "/" + IndexPath); err == nil {
		resp.Body.Close()
		t.Fatalf("a third connection was served while two were open (%s)", resp.Status)
	}
	held[0].Close()
	client.Timeout = 5 * time.Second
	client.Transport.(*http.Transport).CloseIdleConnections()
	resp, err := client.Get(base + "/" + IndexPath)
	if err != nil {
		t.Fatalf("after one connection closed: %v", err)
	}
	resp.Body.Close()

	// The handshake is bounded by ReadTimeout.
	_, dir2 := newDirTree(t)
	base2, _, _ := startServe(t, dir2, "", ServeOptions{ReadTimeout: 300 * time.Millisecond})
	c, err := net.Dial("tcp", strings.TrimPrefix(base2, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); (ok && ne.Timeout()) || time.Since(start) > 3*time.Second {
		t.Errorf("a silent connection stayed open %s (%v)", time.Since(start).Round(time.Millisecond), err)
	}
}

func TestCheckPublicURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://images.example.org":    true,
		"https://127.0.0.1:8443/":       true,
		"https://example.org/mirror":    true,
		"http://example.org":            false,
		"https://user:pass@example.org": false,
		"https://example.org/?x=1":      false,
		"https://example.org/#f":        false,
		"images.example.org:8443":       false,
		"https:///no-host":              false,
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckPublicURL(u); (err == nil) != ok {
			t.Errorf("CheckPublicURL(%s): %v, want ok %v", raw, err, ok)
		} else if err != nil && strings.Contains(err.Error(), "pass") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

func TestLogField(t *testing.T) {
	for in, want := range map[string]string{
		"/images/x.tar.gz": "/images/x.tar.gz",
		"GET":              "GET",
		"":                 `""`,
		"a b":              `"a b"`,
		"a\nb":             `"a\nb"`,
		`a"b`:              `"a\"b"`,
		"é":                `"é"`,
	} {
		if got := logField(in); got != want {
			t.Errorf("logField(%q) = %s, want %s", in, got, want)
		}
	}
}
