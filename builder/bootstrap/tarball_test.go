package bootstrap

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func gzipTar(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(tw.Close(), gz.Close()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestTarballDownload fetches a tarball over https from a loopback
// server: the right checksum extracts it; a wrong one or an HTTP error
// extracts nothing and leaves no download behind.
func TestTarballDownload(t *testing.T) {
	archive := gzipTar(t, map[string]string{"etc/os-release": "ID=test\n"})
	sum := sha256.Sum256(archive)
	good := hex.EncodeToString(sum[:])
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/rootfs.tar.gz" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(archive)
	}))
	defer srv.Close()
	work := t.TempDir()
	env := Env{HTTP: srv.Client(), WorkDir: work}
	ctx := context.Background()

	dir := t.TempDir()
	if err := (tarballBackend{}).Bootstrap(ctx, env, &Config{Source: srv.URL + "/rootfs.tar.gz", SHA256: good}, dir); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc/os-release")); err != nil || string(b) != "ID=test\n" {
		t.Errorf("extracted file: %q, %v", b, err)
	}

	dir = t.TempDir()
	err := (tarballBackend{}).Bootstrap(ctx, env, &Config{Source: srv.URL + "/rootfs.tar.gz", SHA256: strings.Repeat("0", 64)}, dir)
	var sumErr *ChecksumError
	if !errors.As(err, &sumErr) || sumErr.Got != good {
		t.Errorf("wrong checksum: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a tarball with a wrong checksum was extracted (%d entries)", len(entries))
	}

	err = (tarballBackend{}).Bootstrap(ctx, env, &Config{Source: srv.URL + "/missing.tar.gz", SHA256: good}, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "404 Not Found") {
		t.Errorf("missing file: %v", err)
	}
	if entries, _ := os.ReadDir(work); len(entries) != 0 {
		t.Errorf("downloads left in the work directory: %d", len(entries))
	}

	// A local tarball with a sha256 is checked too.
	local := filepath.Join(t.TempDir(), "local.tar.gz")
	if err := os.WriteFile(local, archive, 0o644); err != nil {
		t.Fatal(err)
	}
	err = (tarballBackend{}).Bootstrap(ctx, env, &Config{Source: local, SHA256: strings.Repeat("1", 64)}, t.TempDir())
	if !errors.As(err, &sumErr) {
		t.Errorf("local tarball with a wrong checksum: %v", err)
	}
}
