package streams

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
)

func TestServeFilesAndImport(t *testing.T) {
	ctx := context.Background()
	tr, dir := newDirTree(t)
	older := fakeImage(t, image.TypeUnified, "one", "20260101_0000", 1, time.Time{}, "bb")
	newer := fakeImage(t, image.TypeUnified, "one", "20260102_0000", 2, time.Time{}, "bb")
	split := fakeImage(t, image.TypeSplit, "two", "20260101_0000", 3, time.Time{})
	if _, err := tr.Publish(ctx, []string{older, newer, split}, false); err != nil {
		t.Fatal(err)
	}
	nj, _ := image.ReadImageJSON(newer)
	oj, _ := image.ReadImageJSON(older)

	// Things the server must not show.
	outside := filepath.Join(t.TempDir(), "secret")
	writeFile(t, outside, []byte("secret"))
	if err := os.Symlink(outside, filepath.Join(dir, "images", "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../"+filepath.Base(dir)+"/"+IndexPath, filepath.Join(dir, "inside.json")); err != nil {
		t.Fatal(err)
	}

	// The handler answers imports with URLs below the server's own.
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	defer srv.Close()
	public, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(dir, HandlerOptions{PublicURL: public})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv.Config.Handler = h
	client := srv.Client()

	get := func(method, path string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	for _, tt := range []struct {
		path string
		code int
	}{
		{"/" + IndexPath, 200},
		{"/" + ProductsPath, 200},
		{"/" + nj.Files[0].Name, 404},
		{"/images/" + nj.Fingerprint + ".tar.gz", 200},
		{"/images/escape", 404},
		{"/inside.json", 404}, // a relative link leaving and re-entering the tree
		{"/images/", 404},
		{"/images", 404},
		{"/", 404},
		{"/" + LockName, 404},
		{"/images/../" + IndexPath, 404},
		{"/%2e%2e/etc/passwd", 404},
		{"/1.0/images/nothing", 404},
	} {
		if resp, body := get("GET", tt.path, nil); resp.StatusCode != tt.code {
			t.Errorf("GET %s: %d, want %d (%s)", tt.path, resp.StatusCode, tt.code, body)
		}
	}
	if resp, _ := get("POST", "/"+IndexPath, nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}

	for _, tt := range []struct {
		name, archs, want string
	}{
		{"bb", "x86_64, i686", nj.Fingerprint},
		{"bb", "2, 1", nj.Fingerprint}, // numeric IDs, as old LXD sends
		{"busybox/one/default", "", nj.Fingerprint},
		{"busybox/one/default/x86_64", "x86_64", nj.Fingerprint},
		{"busybox:one:default:x86_64:20260101_0000", "x86_64", oj.Fingerprint},
		{oj.Fingerprint[:12], "", oj.Fingerprint},
		{"bb", "aarch64", ""},
		{"busybox/two/default", "x86_64", ""}, // split: not importable by URL
	} {
		resp, body := get("HEAD", ImportPrefix+tt.name, map[string]string{"LXD-Server-Architectures": tt.archs})
		got := resp.Header.Get("LXD-Image-Hash")
		if got != tt.want || resp.Header.Get("Incus-Image-Hash") != tt.want {
			t.Errorf("%s for %q: hash %q, want %q (%d %s)", tt.name, tt.archs, got, tt.want, resp.StatusCode, body)
			continue
		}
		if tt.want == "" {
			continue
		}
		u := resp.Header.Get("LXD-Image-URL")
		if !strings.HasPrefix(u, "https://") || resp.Header.Get("Incus-Image-URL") != u {
			t.Errorf("image URL %q", u)
			continue
		}
		// The URL serves the file with that hash.
		fresp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(fresp.Body)
		fresp.Body.Close()
		if fresp.StatusCode != 200 || sha256Hex(data) != tt.want {
			t.Errorf("GET %s: %d, %d bytes", u, fresp.StatusCode, len(data))
		}
	}
	if resp, body := get("GET", ImportPrefix+"bb", map[string]string{"Incus-Server-Architectures": "x86_64"}); resp.StatusCode != 200 || !strings.Contains(body, nj.Fingerprint) {
		t.Errorf("GET import: %d %s", resp.StatusCode, body)
	}
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
