package bootstrap

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// tarGz is a gzip tar archive of regular files, in order.
func tarGz(t *testing.T, files ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const testMetadataYAML = `architecture: x86_64
creation_date: 1700000000
properties:
  os: busybox
  note: from the base
templates:
  /etc/hostname:
    when: [create, copy]
    template: hostname.tpl
`

// fakeImageDaemon serves one split image under alias "base" on a unix
// socket, as LXD's REST API does, and records the paths asked for.
type fakeImageDaemon struct {
	metadata, rootfs []byte
	fingerprint      string
	arch, typ        string
	mu               sync.Mutex
	paths            []string
	lookup           func(string) (string, bool)
	// resolveMetadata, when set, is the metadata of the first export
	// (the one resolving reads the start of) instead of metadata.
	resolveMetadata []byte
}

func newFakeImageDaemon(t *testing.T, rootfs []byte) *fakeImageDaemon {
	t.Helper()
	f := &fakeImageDaemon{metadata: tarGz(t, [2]string{"metadata.yaml", testMetadataYAML}, [2]string{"templates/hostname.tpl", "{{ container.name }}\n"}),
		rootfs: rootfs, arch: "x86_64", typ: "container"}
	sum := sha256.Sum256(append(append([]byte{}, f.metadata...), f.rootfs...))
	f.fingerprint = hex.EncodeToString(sum[:])
	sock := filepath.Join(t.TempDir(), "unix.socket")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	f.lookup = func(name string) (string, bool) {
		if name == "LXD_SOCKET" {
			return sock, true
		}
		return "", false
	}
	return f
}

func (f *fakeImageDaemon) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.paths...)
}

func (f *fakeImageDaemon) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.paths = append(f.paths, r.URL.Path)
	f.mu.Unlock()
	sync200 := func(v any) {
		data, _ := json.Marshal(v)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"type":"sync","status_code":200,"metadata":` + string(data) + `}`))
	}
	switch r.URL.Path {
	case "/1.0":
		sync200(map[string]any{"auth": "trusted", "environment": map[string]any{"server": "lxd"}})
	case "/1.0/images/aliases/base":
		sync200(map[string]any{"name": "base", "target": f.fingerprint})
	case "/1.0/images/" + f.fingerprint:
		sync200(map[string]any{"fingerprint": f.fingerprint, "architecture": f.arch, "type": f.typ})
	case "/1.0/images/" + f.fingerprint + "/export":
		metadata := f.metadata
		f.mu.Lock()
		if f.resolveMetadata != nil {
			metadata, f.resolveMetadata = f.resolveMetadata, nil
		}
		f.mu.Unlock()
		mw := multipart.NewWriter(w)
		w.Header().Set("Content-Type", mw.FormDataContentType())
		for _, p := range []struct {
			name string
			data []byte
		}{{"metadata", metadata}, {"rootfs", f.rootfs}} {
			pw, _ := mw.CreateFormFile(p.name, p.name+".tar.gz")
			_, _ = pw.Write(p.data)
		}
		_ = mw.Close()
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"type":"error","error_code":404,"error":"not found"}`))
	}
}

// TestImageResolveFromDaemon: the alias is resolved to its image, whose
// metadata is read from the export; a pin the alias does not name, an
// image of another architecture or a VM image fail, the pin before the
// image is even read.
func TestImageResolveFromDaemon(t *testing.T) {
	f := newFakeImageDaemon(t, tarGz(t, [2]string{"etc/motd", "hello\n"}))
	env := ResolveEnv{Arch: amd64, LookupEnv: f.lookup}
	cfg := &Config{Backend: "image", Daemon: "lxd", Alias: "base"}
	base, err := Resolve(context.Background(), env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if base.Kind != BaseImage || base.Source != "lxd" || base.Reference != "base" || base.Fingerprint != f.fingerprint || cfg.Base != base {
		t.Errorf("base %+v", base)
	}
	if base.Properties["note"] != "from the base" || len(base.Templates) != 1 || base.Templates[0].Path != "/etc/hostname" ||
		base.Templates[0].Content != "{{ container.name }}\n" || strings.Join(base.Templates[0].When, ",") != "create,copy" {
		t.Errorf("metadata: %+v %+v", base.Properties, base.Templates)
	}
	if fields := fmt.Sprint(cfg.Fields()); !strings.Contains(fields, f.fingerprint) || strings.Contains(fields, "alias") {
		t.Errorf("the resolved block's fields %s key on the alias, not the fingerprint", fields)
	}

	if _, err := Resolve(context.Background(), ResolveEnv{Arch: amd64, LookupEnv: f.lookup, Locked: true}, &Config{Backend: "image", Alias: "base"}); err == nil ||
		!strings.Contains(err.Error(), `add fingerprint = "`+f.fingerprint+`"`) {
		t.Errorf("an unpinned alias under --locked: %v", err)
	}
	if _, err := Resolve(context.Background(), ResolveEnv{Arch: amd64, LookupEnv: f.lookup, Locked: true}, &Config{Backend: "image", Alias: "base", Fingerprint: f.fingerprint}); err != nil {
		t.Errorf("a pinned alias under --locked: %v", err)
	}

	before := len(f.seen())
	pin := strings.Repeat("0", 64)
	_, err = Resolve(context.Background(), env, &Config{Backend: "image", Alias: "base", Fingerprint: pin})
	var pinErr *PinError
	if !errors.As(err, &pinErr) || pinErr.Got != f.fingerprint || pinErr.Want != pin {
		t.Errorf("a stale pin: %v", err)
	}
	for _, p := range f.seen()[before:] {
		if strings.HasPrefix(p, "/1.0/images/"+f.fingerprint) {
			t.Errorf("a stale pin read %s", p)
		}
	}

	f.arch = "aarch64"
	if _, err := Resolve(context.Background(), env, &Config{Backend: "image", Alias: "base"}); err == nil || !strings.Contains(err.Error(), "is for aarch64, and the recipe builds for x86_64") {
		t.Errorf("another architecture: %v", err)
	}
	f.arch, f.typ = "x86_64", "virtual-machine"
	if _, err := Resolve(context.Background(), env, &Config{Backend: "image", Alias: "base"}); err == nil || !strings.Contains(err.Error(), "virtual-machine image") {
		t.Errorf("a VM image: %v", err)
	}
	if _, err := Resolve(context.Background(), env, &Config{Backend: "image", Alias: "nothere"}); err == nil || !strings.Contains(err.Error(), `no image alias "nothere"`) {
		t.Errorf("a missing alias: %v", err)
	}
}

// TestImageFetchFromDaemon: the export is checked against the
// fingerprint before its rootfs is unpacked; a rootfs that does not hash
// to it leaves nothing in the rootfs or the work directory.
func TestImageFetchFromDaemon(t *testing.T) {
	f := newFakeImageDaemon(t, tarGz(t, [2]string{"etc/motd", "hello\n"}))
	env := ResolveEnv{Arch: amd64, LookupEnv: f.lookup}
	cfg := &Config{Backend: "image", Alias: "base"}
	if _, err := Resolve(context.Background(), env, cfg); err != nil {
		t.Fatal(err)
	}
	work, root := t.TempDir(), t.TempDir()
	benv := Env{Arch: amd64, WorkDir: work, LookupEnv: f.lookup}
	backend, _ := Lookup("image")
	if err := backend.Bootstrap(context.Background(), benv, cfg, root); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(root, "etc/motd")); err != nil || string(data) != "hello\n" {
		t.Errorf("etc/motd: %q, %v", data, err)
	}

	f.rootfs = tarGz(t, [2]string{"etc/motd", "tampered\n"})
	root = t.TempDir()
	err := backend.Bootstrap(context.Background(), benv, cfg, root)
	if err == nil || !strings.Contains(err.Error(), "not to its fingerprint: nothing was unpacked") {
		t.Errorf("a tampered rootfs: %v", err)
	}
	for _, dir := range []string{root, work} {
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%s holds %v after the failure", dir, entries)
		}
	}
}

// TestImageFetchFromDaemonChecksMetadata: resolving reads the start of
// an export, which nothing checks; the metadata the recipe was given
// must be what the export checked against the fingerprint holds, or a
// daemon could lend its own templates and properties to an image whose
// base_fingerprint names another, pinned or not.
func TestImageFetchFromDaemonChecksMetadata(t *testing.T) {
	f := newFakeImageDaemon(t, tarGz(t, [2]string{"etc/motd", "hello\n"}))
	f.resolveMetadata = tarGz(t, [2]string{"metadata.yaml", testMetadataYAML}, [2]string{"templates/hostname.tpl", "{{ 'hostile' }}\n"})
	cfg := &Config{Backend: "image", Alias: "base", Fingerprint: f.fingerprint}
	if _, err := Resolve(context.Background(), ResolveEnv{Arch: amd64, LookupEnv: f.lookup}, cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Base.Templates[0].Content != "{{ 'hostile' }}\n" {
		t.Fatalf("the fake daemon's first export was not the one resolving read: %+v", cfg.Base.Templates)
	}
	work, root := t.TempDir(), t.TempDir()
	backend, _ := Lookup("image")
	err := backend.Bootstrap(context.Background(), Env{Arch: amd64, WorkDir: work, LookupEnv: f.lookup}, cfg, root)
	if err == nil || !strings.Contains(err.Error(), "differs from what") {
		t.Errorf("metadata other than the checked export's: %v", err)
	}
	for _, dir := range []string{root, work} {
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%s holds %v after the failure", dir, entries)
		}
	}
}

// TestReadBaseMetadata: metadata.yaml and its templates are read from a
// metadata tarball or the start of a unified one; a template the
// metadata names but the tarball lacks, or no metadata.yaml, fails.
func TestReadBaseMetadata(t *testing.T) {
	md := [2]string{"metadata.yaml", testMetadataYAML}
	tpl := [2]string{"templates/hostname.tpl", "x\n"}
	unified := tarGz(t, md, tpl, [2]string{"rootfs/etc/motd", "hello\n"})
	got, err := readBaseMetadata(bytes.NewReader(unified), "unified")
	if err != nil || got.Architecture != "x86_64" || len(got.Templates) != 1 || got.Templates[0].Name != "hostname.tpl" {
		t.Errorf("unified: %+v, %v", got, err)
	}
	if _, err := readBaseMetadata(bytes.NewReader(tarGz(t, md)), "lacking"); err == nil || !strings.Contains(err.Error(), "which it does not hold") {
		t.Errorf("a missing template: %v", err)
	}
	if _, err := readBaseMetadata(bytes.NewReader(tarGz(t, tpl)), "empty"); err == nil || !strings.Contains(err.Error(), "no metadata.yaml") {
		t.Errorf("no metadata.yaml: %v", err)
	}
	big := [2]string{"templates/hostname.tpl", strings.Repeat("x", maxBaseTemplate+1)}
	if _, err := readBaseMetadata(bytes.NewReader(tarGz(t, md, big)), "big"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("an oversized template: %v", err)
	}
}

// TestReadBaseMetadataBounded: what a hostile source's metadata makes
// builder hold is bounded by the names of the template files too, and
// by their number, not only by their contents.
func TestReadBaseMetadataBounded(t *testing.T) {
	md := [2]string{"metadata.yaml", testMetadataYAML}
	tpl := [2]string{"templates/hostname.tpl", "x\n"}
	long := []([2]string){md, tpl}
	for i := 0; i < 40; i++ {
		long = append(long, [2]string{fmt.Sprintf("templates/%d%s", i, strings.Repeat("n", 512<<10)), ""})
	}
	if _, err := readBaseMetadata(bytes.NewReader(tarGz(t, long...)), "long names"); err == nil || !strings.Contains(err.Error(), "exceed") {
		t.Errorf("40 names of 512 KiB under templates/: %v", err)
	}
	many := []([2]string){md, tpl}
	for i := 0; i < maxBaseTemplateFiles+1; i++ {
		many = append(many, [2]string{fmt.Sprintf("templates/%d.tpl", i), ""})
	}
	if _, err := readBaseMetadata(bytes.NewReader(tarGz(t, many...)), "many"); err == nil || !strings.Contains(err.Error(), "files under templates/") {
		t.Errorf("%d template files: %v", len(many), err)
	}
}

// TestImageRemoteSimplestreams: remote names a remote of the client
// configuration that is a simplestreams server (as lxc's own "images"
// is): the error says to take its images with server, not that images
// are uploaded only to a daemon.
func TestImageRemoteSimplestreams(t *testing.T) {
	conf := t.TempDir()
	if err := os.WriteFile(filepath.Join(conf, "config.yml"), []byte("remotes:\n  mirror:\n    addr: https://127.0.0.1:1/streams\n    protocol: simplestreams\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lookup := func(name string) (string, bool) {
		if name == "LXD_CONF" {
			return conf, true
		}
		return "", false
	}
	_, err := Resolve(context.Background(), ResolveEnv{Arch: amd64, LookupEnv: lookup}, &Config{Backend: "image", Remote: "mirror", Alias: "base"})
	if err == nil || !strings.Contains(err.Error(), `server = "https://127.0.0.1:1/streams"`) || strings.Contains(err.Error(), "uploaded") {
		t.Errorf("a simplestreams remote: %v", err)
	}
}

// TestImageCacheKeyCoversBaseMetadata: the stage cache keys the
// bootstrap on the base's metadata as well as its fingerprint. A cached
// bootstrap skips the download that checks the metadata against the
// image's bytes, so a source that sends other metadata when resolved
// again must miss the snapshot made with the checked one.
func TestImageCacheKeyCoversBaseMetadata(t *testing.T) {
	fp := strings.Repeat("1", 64)
	checked := &Config{Backend: "image", Alias: "base", Base: &Base{Kind: BaseImage, Source: "lxd", Fingerprint: fp,
		Templates: []BaseTemplate{{Path: "/etc/hostname", Name: "hostname.tpl", Content: "{{ container.name }}\n"}}}}
	forged := &Config{Backend: "image", Alias: "base", Base: &Base{Kind: BaseImage, Source: "lxd", Fingerprint: fp,
		Templates: []BaseTemplate{{Path: "/etc/hostname", Name: "hostname.tpl", Content: "forged\n"}}}}
	if fmt.Sprint(checked.Fields()) == fmt.Sprint(forged.Fields()) {
		t.Errorf("two bases of one fingerprint with other metadata have the same fields: %v", checked.Fields())
	}
	oci := &Config{Backend: "oci", Image: "127.0.0.1:1/base:v1", Base: &Base{Kind: BaseOCI, Fingerprint: "sha256:" + fp}}
	if strings.Contains(fmt.Sprint(oci.Fields()), "base_metadata") {
		t.Errorf("a base without metadata keys on it: %v", oci.Fields())
	}
}
