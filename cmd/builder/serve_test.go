package main

import (
	"bufio"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/builder-images/builder/builder/sign/signtest"
	"github.com/builder-images/builder/internal/testenv"
)

// testCA makes a CA and a server certificate for 127.0.0.1 signed by it,
// and writes ca.pem, cert.pem and key.pem into dir.
func testCA(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	ca, caKey := testCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "builder test CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil, nil)
	cert, key := testCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, caKey)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePEM(t, ca, nil, caFile, "")
	writePEM(t, cert, key, certFile, keyFile)
	return caFile, certFile, keyFile
}

// startServe runs builder serve on a free loopback port and returns its
// base URL. The cleanup stops it with SIGTERM and checks it stopped
// cleanly.
func startServe(t *testing.T, tree, cert, key string) string {
	t.Helper()
	cmd := exec.Command(builderBinary(t), "serve", tree, "--addr", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("builder serve printed nothing: %s", stderr.String())
	}
	first := lines.Text()
	i := strings.Index(first, "https://")
	if i < 0 {
		t.Fatalf("builder serve said %q", first)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		rest := ""
		for lines.Scan() {
			rest += lines.Text() + "\n"
		}
		if err := cmd.Wait(); err != nil || !strings.Contains(rest, "stopped") {
			t.Errorf("builder serve after SIGTERM: %v, %q\n%s", err, rest, stderr.String())
		}
	})
	return strings.TrimSuffix(first[i:], "/")
}

// TestServeSimplestreamsRemote publishes a split and a unified image,
// serves the tree over HTTPS with a test CA, adds it to the shared LXD
// and Incus daemons as a simplestreams remote, copies both images and
// launches a container from each. The client (lxc, incus) runs with its
// own configuration directory (LXD_CONF, INCUS_CONF), where the server
// certificate is pinned as servercerts/REMOTE.crt: the client passes it
// on to the daemon with the copy request, so nothing on the system learns
// to trust the test CA.
func TestServeSimplestreamsRemote(t *testing.T) {
	daemons := testenv.Daemons(t)
	tmp := t.TempDir()
	split, unified := buildPair(t, tmp)
	tree := filepath.Join(tmp, "tree")
	// Signed, as a tree published for others is: the daemons read its
	// index.json and images.json as an unsigned tree's.
	k := signtest.NewKey(t, "serve", "")
	runBuilder(t, nil, "publish", tree, split, unified, "--sign-key", k.SecretFile)
	_, cert, key := testCA(t, tmp)
	base := startServe(t, tree, cert, key)
	for _, d := range daemons {
		t.Run(d.Name, func(t *testing.T) {
			testServeSimplestreamsRemote(t, d, base, cert, readImageJSON(t, split).Fingerprint, readImageJSON(t, unified).Fingerprint)
		})
	}
}

func testServeSimplestreamsRemote(t *testing.T, d testenv.Daemon, base, cert, splitFP, unifiedFP string) {
	conf := filepath.Join(t.TempDir(), d.CLI+"-conf")
	if err := os.MkdirAll(filepath.Join(conf, "servercerts"), 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{confVar(d) + "=" + conf}
	suffix := uniqueSuffix()
	remote := "bt" + suffix
	cliWith(t, d, env, "remote", "add", remote, base, "--protocol", "simplestreams")
	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(conf, "servercerts", remote+".crt"), string(pem))
	// The daemon caches a remote's index under its URL's sha256.
	t.Cleanup(func() {
		sum := sha256.Sum256([]byte(base))
		_ = os.RemoveAll(filepath.Join("/var/cache", d.Name, hex.EncodeToString(sum[:])))
	})

	listed := cliWith(t, d, env, "image", "list", remote+":", "--format", "csv", "--columns", "F")
	if !strings.Contains(listed, splitFP) || !strings.Contains(listed, unifiedFP) {
		t.Fatalf("%s image list %s: sees\n%s", d.CLI, remote, listed)
	}
	for _, tt := range []struct{ name, source, fingerprint string }{
		{"split", remote + ":busybox/static/default", splitFP}, // the alias: the newest version
		{"unified", remote + ":" + unifiedFP[:12], unifiedFP},
	} {
		alias := "builder-serve-" + tt.name + "-" + suffix
		cliWith(t, d, env, "image", "copy", tt.source, "local:", "--alias", alias)
		cliLater(t, d, "image", "delete", alias)
		if info := cli(t, d, "image", "info", alias); !strings.Contains(info, "Fingerprint: "+tt.fingerprint) {
			t.Fatalf("copied %s:\n%s", tt.source, info)
		}
		launchAndCheckHostnameOn(t, d, alias, "bts-"+tt.name+"-"+suffix)
	}
}

// privateDaemon starts a daemon of d's kind of the test's own, in a
// temporary LXD_DIR or INCUS_DIR, whose system trust store is the
// machine's plus caFile (SSL_CERT_FILE). URL import is the one request
// the daemon makes with its system trust, which a Go program reads once,
// at start: a private daemon trusts the test CA without any change to
// the machine or a restart of the shared daemon. It needs no storage pool
// to import. It returns the environment that points d's client at it.
func privateDaemon(t *testing.T, d testenv.Daemon, caFile string) (env []string) {
	t.Helper()
	// A short path: the daemon's unix socket goes below it, and socket
	// paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "b"+d.Name+"-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "..", filepath.Base(dir)+"-ca.pem")
	// Debian's bundle, when there is one, so the daemon trusts what it
	// did before.
	pems, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, bundle, string(append(pems, ca...)))
	log, err := os.Create(filepath.Join(dir, "..", filepath.Base(dir)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	dirEnv := strings.ToUpper(d.Name) + "_DIR=" + dir
	// Each daemon's binary, and its client's admin commands.
	daemon, admin := "lxd", []string{"lxd"}
	if d.Name == "incus" {
		daemon, admin = "/usr/libexec/incus/incusd", []string{"incus", "admin"}
	}
	adminCmd := func(args ...string) *exec.Cmd {
		c := exec.Command(admin[0], append(admin[1:], args...)...)
		c.Env = append(os.Environ(), dirEnv)
		return c
	}
	cmd := exec.Command(daemon, "--group", "root")
	cmd.Env = append(os.Environ(), dirEnv, "SSL_CERT_FILE="+bundle)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if out, err := adminCmd("shutdown", "--timeout", "30").CombinedOutput(); err != nil {
			t.Errorf("shutdown of the private %s daemon: %v\n%s", d.Name, err, out)
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
		log.Close()
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("private %s's log:\n%s", d.Name, out)
		}
		// Never delete through a mount the daemon left behind.
		if mounts, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mounts), dir) {
			t.Errorf("mounts left below %s", dir)
			return
		}
		os.RemoveAll(dir)
		os.Remove(bundle)
		os.Remove(log.Name())
	})
	if out, err := adminCmd("waitready", "--timeout", "60").CombinedOutput(); err != nil {
		t.Fatalf("the private %s daemon did not start: %v\n%s", d.Name, err, out)
	}
	return []string{dirEnv}
}

// TestServeURLImport imports a unified image by URL into LXD and into
// Incus: the daemon asks builder serve (HEAD) and gets the image's URL
// and hash from headers (LXD-Image-URL, Incus-Image-URL).
func TestServeURLImport(t *testing.T) {
	daemons := testenv.Daemons(t)
	tmp := t.TempDir()
	split, unified := buildPair(t, tmp)
	uj := readImageJSON(t, unified)
	tree := filepath.Join(tmp, "tree")
	runBuilder(t, nil, "publish", tree, split, unified)
	caFile, cert, key := testCA(t, tmp)
	base := startServe(t, tree, cert, key)
	for _, d := range daemons {
		t.Run(d.Name, func(t *testing.T) {
			env := append(privateDaemon(t, d, caFile), confVar(d)+"="+filepath.Join(t.TempDir(), d.CLI+"-conf"))
			// The alias names the split image, the newest; URL import
			// takes the newest unified one.
			out := cliWith(t, d, env, "image", "import", base+"/1.0/images/busybox/static/default", "--alias", "by-url")
			if !strings.Contains(out, uj.Fingerprint) {
				t.Fatalf("%s image import by URL:\n%s", d.CLI, out)
			}
			if info := cliWith(t, d, env, "image", "info", "by-url"); !strings.Contains(info, "Fingerprint: "+uj.Fingerprint) {
				t.Errorf("imported:\n%s", info)
			}
		})
	}
}
