package bootstrap

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/streams"
	"github.com/builder-images/builder/internal/testenv"
)

// resolveOn resolves cfg against the fake tree as the resolve phase
// does, and returns the block as the plan carries it to the stage.
func resolveOn(t *testing.T, ft *fakeTree, cfg *Config) (*Config, error) {
	t.Helper()
	cfg.Backend, cfg.Server = "image", ft.srv.URL+"/"
	if _, err := Resolve(context.Background(), ResolveEnv{Arch: amd64, HTTP: ft.srv.Client()}, cfg); err != nil {
		return nil, err
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var carried Config
	if err := json.Unmarshal(data, &carried); err != nil {
		t.Fatal(err)
	}
	return &carried, nil
}

// TestStreamsSource resolves an alias to the image's fingerprint and
// metadata, then bootstraps from the resolved image: the rootfs is
// unpacked and the downloads are gone.
func TestStreamsSource(t *testing.T) {
	ft := newFakeTree(t)
	cfg, err := resolveOn(t, ft, &Config{Alias: "debian/12"})
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Base
	if b.Kind != BaseImage || b.Source != ft.srv.URL+"/" || b.Reference != "debian/12" || b.Fingerprint != ft.fingerprint {
		t.Errorf("base %+v", b)
	}
	if b.Properties["os"] != "Debian" || len(b.Templates) != 1 || b.Templates[0].Path != "/etc/hostname" || b.Templates[0].Content != "{{ container.name }}\n" {
		t.Errorf("base metadata %+v %+v", b.Properties, b.Templates)
	}
	if ft.asked(ft.dataPath) {
		t.Error("resolving downloaded the rootfs")
	}
	work, dir := t.TempDir(), t.TempDir()
	env := Env{Arch: amd64, HTTP: ft.srv.Client(), WorkDir: work}
	if err := (imageBackend{}).Bootstrap(context.Background(), env, cfg, dir); err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, dir); got["etc/os-release"] != "ID=base\n" {
		t.Errorf("unpacked %q", got)
	}
	assertEmpty(t, work)
}

// TestStreamsSourcePinned: a pinned fingerprint the alias does not name
// fails before any of the image is read; one it names resolves.
func TestStreamsSourcePinned(t *testing.T) {
	ft := newFakeTree(t)
	wrong := strings.Repeat("0", 64)
	_, err := resolveOn(t, ft, &Config{Alias: "debian/12", Fingerprint: wrong})
	var pin *PinError
	if !errors.As(err, &pin) || pin.Got != ft.fingerprint || pin.Want != wrong {
		t.Fatalf("a wrong pin: %v", err)
	}
	if ft.asked(ft.metaPath) || ft.asked(ft.dataPath) {
		t.Errorf("a wrong pin read the image: %q", ft.requests)
	}
	if _, err := resolveOn(t, ft, &Config{Alias: "debian/12", Fingerprint: ft.fingerprint}); err != nil {
		t.Errorf("the right pin: %v", err)
	}
	cfg, err := resolveOn(t, ft, &Config{Fingerprint: ft.fingerprint})
	if err != nil || cfg.Base.Reference != "" {
		t.Errorf("by fingerprint alone: %+v, %v", cfg, err)
	}
	if _, err := resolveOn(t, ft, &Config{Alias: "debian/12", Variant: "cloud"}); err == nil || !strings.Contains(err.Error(), `variant "cloud"`) {
		t.Errorf("another variant: %v", err)
	}
}

// TestStreamsSourceMetadataChanged: the metadata the recipe was given at
// resolve time must be the checked image's, or nothing is unpacked.
func TestStreamsSourceMetadataChanged(t *testing.T) {
	ft := newFakeTree(t)
	cfg, err := resolveOn(t, ft, &Config{Alias: "debian/12"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Base.Templates[0].Content = "something else\n"
	work, dir := t.TempDir(), t.TempDir()
	err = (imageBackend{}).Bootstrap(context.Background(), Env{Arch: amd64, HTTP: ft.srv.Client(), WorkDir: work}, cfg, dir)
	if err == nil || !strings.Contains(err.Error(), "differs from what the server sent") {
		t.Fatalf("Bootstrap = %v", err)
	}
	assertEmpty(t, work)
	assertEmpty(t, dir)
}

// TestStreamsSourceUnified resolves and bootstraps a unified image, named
// by its fingerprint alone: its metadata is read from the tarball, its
// rootfs/ unpacked re-rooted.
func TestStreamsSourceUnified(t *testing.T) {
	ft := newFakeTree(t)
	unified := gzipTar(t, map[string]string{"metadata.yaml": baseMetadataYAML, "templates/hostname.tpl": "{{ container.name }}\n",
		"rootfs/etc/os-release": "ID=unified\n"})
	const p = "images/unified.tar.gz"
	ft.put(t, p, unified)
	v := ft.products.Products["debian:bookworm:amd64:default"].Versions["20250101_05:24"]
	v.Items = map[string]*streams.Item{"lxd_combined.tar.gz": {Ftype: "lxd_combined.tar.gz", Path: p, SHA256: sha(unified), Size: int64(len(unified))}}
	ft.write(t)
	cfg, err := resolveOn(t, ft, &Config{Fingerprint: sha(unified)})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Base.Templates) != 1 || cfg.Base.Properties["description"] != "the base" {
		t.Errorf("base metadata %+v", cfg.Base)
	}
	work, dir := t.TempDir(), t.TempDir()
	if err := (imageBackend{}).Bootstrap(context.Background(), Env{Arch: amd64, HTTP: ft.srv.Client(), WorkDir: work}, cfg, dir); err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, dir); len(got) != 1 || got["etc/os-release"] != "ID=unified\n" {
		t.Errorf("unpacked %q", got)
	}
	assertEmpty(t, work)
}

// TestStreamsSourceVariantAlias: an alias that names its variant itself
// ("debian/12/cloud", as `lxc launch images:debian/12/cloud` takes it)
// resolves without the block repeating the variant; a variant the block
// sets still has to be the product's.
func TestStreamsSourceVariantAlias(t *testing.T) {
	ft := newFakeTree(t)
	prod := ft.products.Products["debian:bookworm:amd64:default"]
	prod.Variant, prod.Aliases = "cloud", "debian/bookworm/cloud,debian/12/cloud"
	ft.write(t)
	cfg, err := resolveOn(t, ft, &Config{Alias: "debian/12/cloud"})
	if err != nil {
		t.Fatalf("an alias naming its variant: %v", err)
	}
	if cfg.Base.Fingerprint != ft.fingerprint {
		t.Errorf("resolved %s, want %s", cfg.Base.Fingerprint, ft.fingerprint)
	}
	if _, err := resolveOn(t, ft, &Config{Alias: "debian/12/cloud", Variant: "default"}); err == nil || !strings.Contains(err.Error(), `variant "default"`) {
		t.Errorf("a variant set to another: %v", err)
	}
}

// TestStreamsSourceNoSqfs2tar: a base whose root filesystem is a
// squashfs needs sqfs2tar; without it the bootstrap says so before it
// downloads the image, not after.
func TestStreamsSourceNoSqfs2tar(t *testing.T) {
	mksquashfs := testenv.Command(t, "mksquashfs", "squashfs-tools")
	src := t.TempDir()
	if err := os.Mkdir(filepath.Join(src, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeTemp(t, filepath.Join(src, "etc"), "os-release", []byte("ID=base\n"))
	sqPath := filepath.Join(t.TempDir(), "rootfs.squashfs")
	if out, err := exec.Command(mksquashfs, src, sqPath, "-noappend", "-no-progress").CombinedOutput(); err != nil {
		t.Fatalf("mksquashfs: %v\n%s", err, out)
	}
	squashfs, err := os.ReadFile(sqPath)
	if err != nil {
		t.Fatal(err)
	}
	ft := newFakeTree(t)
	ft.rootfs, ft.fingerprint = squashfs, sha(ft.meta, squashfs)
	items := ft.products.Products["debian:bookworm:amd64:default"].Versions["20250101_05:24"].Items
	delete(items, "root.tar.xz")
	items["squashfs"] = &streams.Item{Ftype: "squashfs", Path: ft.dataPath, SHA256: sha(squashfs), Size: int64(len(squashfs))}
	items["lxd.tar.xz"].CombinedSquashfsSHA256, items["lxd.tar.xz"].CombinedRootxzSHA256 = ft.fingerprint, ""
	ft.write(t)
	cfg, err := resolveOn(t, ft, &Config{Alias: "debian/12"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir())
	work := t.TempDir()
	err = (imageBackend{}).Bootstrap(context.Background(), Env{Arch: amd64, HTTP: ft.srv.Client(), WorkDir: work}, cfg, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "sqfs2tar") || !strings.Contains(err.Error(), "squashfs-tools-ng") {
		t.Errorf("Bootstrap without sqfs2tar = %v", err)
	}
	if ft.asked(ft.dataPath) {
		t.Error("the squashfs was downloaded before sqfs2tar was found missing")
	}
	assertEmpty(t, work)
}

// TestStreamsSourceFingerprintForm: a fingerprint the server states is
// 64 hex digits, or resolving refuses it, quoted: it is printed, recorded
// in image.json and keys the cache.
func TestStreamsSourceFingerprintForm(t *testing.T) {
	ft := newFakeTree(t)
	ft.item("lxd.tar.xz").CombinedRootxzSHA256 = "\x1b]0;pwned\x07"
	ft.write(t)
	var log strings.Builder
	cfg := &Config{Backend: "image", Server: ft.srv.URL + "/", Alias: "debian/12"}
	_, err := Resolve(context.Background(), ResolveEnv{Arch: amd64, HTTP: ft.srv.Client(), Log: &log}, cfg)
	if err == nil || strings.Contains(err.Error(), "\x1b") || !strings.Contains(err.Error(), `\x1b`) {
		t.Errorf("Resolve = %q, want the fingerprint refused, quoted", err)
	}
	if strings.Contains(log.String(), "\x1b") {
		t.Errorf("the log holds the server's escape: %q", log.String())
	}
}
