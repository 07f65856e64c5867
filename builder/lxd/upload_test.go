package lxd

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUploadMissingFile: a file that cannot be opened while the daemon
// is listening is named as such; its ENOENT was taken for the socket's
// and reported as "no daemon is listening".
func TestUploadMissingFile(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "unix.socket")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		http.Error(w, `{"type":"error","error":"bad request","error_code":400}`, http.StatusBadRequest)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	meta := filepath.Join(dir, "lxd.tar.xz")
	if err := os.WriteFile(meta, []byte("metadata"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "rootfs.squashfs")
	c := NewUnixClient(Socket{Daemon: LXD, Path: sock})
	_, err = c.UploadImage(context.Background(), Upload{Files: []UploadFile{{Path: meta, Size: 8}, {Path: missing, Size: 10}}, Fingerprint: strings.Repeat("0", 64)})
	if err == nil || strings.Contains(err.Error(), "no daemon is listening") || !strings.Contains(err.Error(), missing) {
		t.Errorf("UploadImage with a missing file: %v; want the file named, not a missing daemon", err)
	}
}
