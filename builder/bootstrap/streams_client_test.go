package bootstrap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/streams"
)

// fakeTree is a simplestreams tree of one split image, laid out as an
// image server lays it out, served over TLS on loopback.
type fakeTree struct {
	dir                string
	meta, rootfs       []byte
	fingerprint        string
	products           *streams.Products
	srv                *httptest.Server
	metaPath, dataPath string
	// requests are the paths asked for, in order.
	mu       sync.Mutex
	requests []string
}

// asked says whether the tree path p was requested.
func (ft *fakeTree) asked(p string) bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return slices.Contains(ft.requests, "/"+p)
}

// baseMetadataYAML is the fake base's metadata: a property and a
// template the recipe is offered.
const baseMetadataYAML = `architecture: x86_64
creation_date: 1700000000
properties:
  os: Debian
  description: the base
templates:
  /etc/hostname:
    when: [create, copy]
    template: hostname.tpl
`

func sha(b ...[]byte) string {
	h := sha256.New()
	for _, p := range b {
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func newFakeTree(t *testing.T) *fakeTree {
	t.Helper()
	ft := &fakeTree{dir: t.TempDir(),
		meta:     gzipTar(t, map[string]string{"metadata.yaml": baseMetadataYAML, "templates/hostname.tpl": "{{ container.name }}\n"}),
		rootfs:   gzipTar(t, map[string]string{"etc/os-release": "ID=base\n"}),
		metaPath: "images/debian/bookworm/amd64/default/20250101_05:24/lxd.tar.xz",
		dataPath: "images/debian/bookworm/amd64/default/20250101_05:24/root.tar.xz",
	}
	ft.fingerprint = sha(ft.meta, ft.rootfs)
	ft.products = &streams.Products{ContentID: "images", DataType: "image-downloads", Format: "products:1.0", Products: map[string]*streams.Product{
		"debian:bookworm:amd64:default": {Arch: "amd64", OS: "Debian", Release: "bookworm", Variant: "default", Aliases: "debian/12,debian/bookworm",
			Versions: map[string]*streams.Version{"20250101_05:24": {Items: map[string]*streams.Item{
				"lxd.tar.xz":  {Ftype: "lxd.tar.xz", Path: ft.metaPath, SHA256: sha(ft.meta), Size: int64(len(ft.meta)), CombinedRootxzSHA256: ft.fingerprint},
				"root.tar.xz": {Ftype: "root.tar.xz", Path: ft.dataPath, SHA256: sha(ft.rootfs), Size: int64(len(ft.rootfs))},
			}}}},
	}}
	files := http.FileServer(http.Dir(ft.dir))
	ft.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ft.mu.Lock()
		ft.requests = append(ft.requests, r.URL.Path)
		ft.mu.Unlock()
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(ft.srv.Close)
	ft.write(t)
	return ft
}

// write lays the tree out: index, products, files.
func (ft *fakeTree) write(t *testing.T) {
	t.Helper()
	index := map[string]any{"format": "index:1.0", "index": map[string]any{"images": map[string]any{
		"datatype": "image-downloads", "path": streams.ProductsPath, "format": "products:1.0", "products": []string{"debian:bookworm:amd64:default"}}}}
	for p, v := range map[string]any{streams.IndexPath: index, streams.ProductsPath: ft.products} {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		ft.put(t, p, data)
	}
	ft.put(t, ft.metaPath, ft.meta)
	ft.put(t, ft.dataPath, ft.rootfs)
}

func (ft *fakeTree) put(t *testing.T, p string, data []byte) {
	t.Helper()
	full := filepath.Join(ft.dir, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (ft *fakeTree) item(ftype string) *streams.Item {
	return ft.products.Products["debian:bookworm:amd64:default"].Versions["20250101_05:24"].Items[ftype]
}

var amd64 = image.Architecture{Distribution: "amd64", LXD: "x86_64"}

// TestStreamsClient finds an image by alias, downloads and checks it and
// unpacks its rootfs, leaving only the two downloads in the work
// directory until they are removed.
func TestStreamsClient(t *testing.T) {
	ft := newFakeTree(t)
	ctx := context.Background()
	c, err := newStreamsClient(ft.srv.Client(), ft.srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.find(ctx, streams.Query{Alias: "debian/12", Arch: amd64})
	if err != nil {
		t.Fatal(err)
	}
	if f.Fingerprint != ft.fingerprint || f.Rootfs == nil || f.Rootfs.Path != ft.dataPath {
		t.Fatalf("found %+v", f)
	}
	work := t.TempDir()
	files, err := c.download(ctx, f, work, 0)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	path, unified := files.rootfs()
	if err := extractBaseRootfs(ctx, path, unified, root, 0); err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, root); got["etc/os-release"] != "ID=base\n" || len(got) != 1 {
		t.Errorf("unpacked %q", got)
	}
	if err := files.remove(); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, work)
	if _, err := c.find(ctx, streams.Query{Alias: "debian/13", Arch: amd64}); !errors.Is(err, streams.ErrNoImage) {
		t.Errorf("an unknown alias: %v", err)
	}
}

// TestStreamsClientRefuses: what a server sends is checked before it is
// used, and a refused download leaves nothing behind.
func TestStreamsClientRefuses(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		// change breaks the tree; it returns what the error must say.
		change func(t *testing.T, ft *fakeTree) []string
	}{
		{"tampered rootfs", func(t *testing.T, ft *fakeTree) []string {
			ft.put(t, ft.dataPath, gzipTar(t, map[string]string{"etc/os-release": "ID=evil\n"}))
			return []string{ft.dataPath, "has sha256", "but the index of"}
		}},
		{"longer rootfs", func(t *testing.T, ft *fakeTree) []string {
			ft.put(t, ft.dataPath, append(ft.rootfs, 0))
			return []string{ft.dataPath, "more than"}
		}},
		{"fingerprint not the files'", func(t *testing.T, ft *fakeTree) []string {
			ft.item("lxd.tar.xz").CombinedRootxzSHA256 = strings.Repeat("0", 64)
			ft.write(t)
			return []string{"the files of image debian:bookworm:amd64:default", "states " + strings.Repeat("0", 64)}
		}},
		{"climbing tree path", func(t *testing.T, ft *fakeTree) []string {
			ft.item("root.tar.xz").Path = "images/../../etc/passwd"
			ft.write(t)
			return []string{`"images/../../etc/passwd", which is not a path inside the tree`}
		}},
		{"file larger than the limit", func(t *testing.T, ft *fakeTree) []string {
			ft.item("root.tar.xz").Size = 1 << 40
			ft.write(t)
			return []string{"1TiB", "limits { tarball_size }"}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ft := newFakeTree(t)
			want := tt.change(t, ft)
			c, err := newStreamsClient(ft.srv.Client(), ft.srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			work := t.TempDir()
			f, err := c.find(ctx, streams.Query{Alias: "debian/12", Arch: amd64})
			if err == nil {
				_, err = c.download(ctx, f, work, 0)
			}
			for _, w := range want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("got %v, want an error saying %q", err, w)
				}
			}
			assertEmpty(t, work)
		})
	}
}

// TestStreamsClientURL: only https servers; redirects stay on https.
func TestStreamsClientURL(t *testing.T) {
	for _, bad := range []string{"http://127.0.0.1/", "https://", "https://u:p@127.0.0.1/", "https://127.0.0.1/?x=1", "ftp://127.0.0.1/"} {
		if _, err := newStreamsClient(nil, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	srv := httptest.NewTLSServer(http.RedirectHandler("http://127.0.0.1:1/streams/v1/index.json", http.StatusFound))
	defer srv.Close()
	c, err := newStreamsClient(srv.Client(), srv.URL+"/sub")
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := c.fileURL("streams/v1/index.json"); u != srv.URL+"/sub/streams/v1/index.json" {
		t.Errorf("fileURL = %s", u)
	}
	if _, err := c.find(context.Background(), streams.Query{Alias: "x", Arch: amd64}); err == nil || !strings.Contains(err.Error(), "not https") {
		t.Errorf("a redirect to http: %v", err)
	}
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		t.Errorf("%s holds %v", dir, entries)
	}
}
