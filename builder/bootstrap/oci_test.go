package bootstrap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/internal/ocitest"
)

func TestParseImageReference(t *testing.T) {
	digest := "sha256:" + strings.Repeat("a", 64)
	for ref, ok := range map[string]bool{
		"127.0.0.1:5000/test/busybox:v1":   true,
		"localhost:5000/busybox@" + digest: true,
		"registry.example/team/app:1.2":    true,
		"localhost/app:1":                  true,
		"busybox:1":                        false, // a default registry would complete it
		"team/app:1":                       false,
		"127.0.0.1:5000/busybox":           false, // no tag: strict validation
		"127.0.0.1:5000/busybox@sha256:ab": false,
		"127.0.0.1:5000/Busybox:v1":        false,
	} {
		_, err := ParseImageReference(ref)
		if (err == nil) != ok {
			t.Errorf("%s: %v, want ok=%v", ref, err, ok)
		}
	}
	// Credentials written into the reference are refused without
	// repeating them: the error goes to the build's log.
	for _, ref := range []string{"user:s3cret@127.0.0.1:5000/app:1", "s3cret@registry.example/app:1"} {
		_, err := ParseImageReference(ref)
		if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), RegistryPasswordVar) {
			t.Errorf("credentials in the reference: %v", err)
		}
	}
}

// ociEnv is a bootstrap environment for arch with a work directory.
func ociEnv(t *testing.T, arch string, client *http.Client) Env {
	t.Helper()
	a, err := image.LookupArchitecture(arch)
	if err != nil {
		t.Fatal(err)
	}
	return Env{Arch: a, HTTP: client, WorkDir: t.TempDir()}
}

func resolveFor(t *testing.T, env Env, b *Config, lookup func(string) (string, bool)) (*ociResolved, error) {
	t.Helper()
	src, ref, err := openOCISource(context.Background(), env.HTTP, b, "", lookupFunc(lookup))
	if err != nil {
		return nil, err
	}
	return resolveOCI(context.Background(), src, ref, b, env.Arch)
}

// bootstrapFor resolves b and bootstraps it into a new directory, as a
// build does: the stage's credentials are the process's environment.
func bootstrapFor(t *testing.T, env Env, b *Config, lookup func(string) (string, bool)) (string, error) {
	t.Helper()
	ctx := context.Background()
	base, err := ociBackend{}.Resolve(ctx, ResolveEnv{Arch: env.Arch, HTTP: env.HTTP, LookupEnv: lookup}, b)
	if err != nil {
		return "", err
	}
	if base.Kind != BaseOCI || base.Fingerprint == "" {
		t.Errorf("resolved %+v", base)
	}
	b.Base = base
	dir := t.TempDir()
	return dir, ociBackend{}.Bootstrap(ctx, env, b, dir)
}

func noEnv(string) (string, bool) { return "", false }

// twoLayers is a small image whose second layer whites out a file and
// makes a directory opaque.
func twoLayers(t *testing.T, arch, variant string) v1.Image {
	return ocitest.Image(t, arch, variant,
		ocitest.Layer(t, ocitest.Dir("etc/"), ocitest.File("etc/doomed", "d"), ocitest.File("etc/arch", arch),
			ocitest.Dir("opt/"), ocitest.Dir("opt/old/"), ocitest.File("opt/old/a", "a")),
		ocitest.Layer(t, ocitest.Whiteout("etc/doomed"), ocitest.Dir("opt/old/"), ocitest.Opaque("opt/old"),
			ocitest.File("opt/old/new", "n")),
	)
}

func checkTwoLayers(t *testing.T, dir, arch string) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(dir, "etc/arch")); err != nil || string(b) != arch {
		t.Errorf("/etc/arch: %q, %v; want %q", b, err, arch)
	}
	for name, want := range map[string]bool{"etc/doomed": false, "opt/old/a": false, "opt/old/new": true} {
		if _, err := os.Lstat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("/%s exists: %v, want %v", name, err == nil, want)
		}
	}
}

// TestOCIRegistry runs against a real docker-registry on loopback, over
// HTTPS with a test CA, behind a password.
func TestOCIRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a registry")
	}
	reg := ocitest.StartRegistry(t, ocitest.Options{Password: "s3cret-pass"})
	amd, arm := twoLayers(t, "amd64", ""), twoLayers(t, "arm64", "v8")
	idx := ocitest.Index(t, amd, arm)
	ref := reg.PushIndex(t, "test/base:v1", idx)
	creds := func(k string) (string, bool) {
		v, ok := map[string]string{RegistryUsernameVar: reg.Username, RegistryPasswordVar: reg.Password}[k]
		return v, ok
	}
	// The stage, which downloads the layers, reads its environment.
	t.Setenv(RegistryUsernameVar, reg.Username)
	t.Setenv(RegistryPasswordVar, reg.Password)

	env := ociEnv(t, "amd64", reg.Client)
	r, err := resolveFor(t, env, &Config{Image: ref}, creds)
	if err != nil {
		t.Fatal(err)
	}
	if r.digest.String() != ocitest.Digest(t, amd) || r.top.String() != ocitest.Digest(t, idx) || r.reference != "v1" || r.source != reg.Host+"/test/base" {
		t.Errorf("resolved %+v; want the amd64 manifest %s of index %s", r, ocitest.Digest(t, amd), ocitest.Digest(t, idx))
	}
	dir, err := bootstrapFor(t, env, &Config{Image: ref, Digest: ocitest.Digest(t, idx)}, creds)
	if err != nil {
		t.Fatal(err)
	}
	checkTwoLayers(t, dir, "amd64")

	armEnv := ociEnv(t, "arm64", reg.Client)
	if dir, err = bootstrapFor(t, armEnv, &Config{Image: reg.Host + "/test/base@" + ocitest.Digest(t, idx), Digest: ocitest.Digest(t, arm)}, creds); err != nil {
		t.Fatal(err)
	}
	checkTwoLayers(t, dir, "arm64")

	if _, err := resolveFor(t, env, &Config{Image: ref}, noEnv); err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") {
		t.Errorf("without credentials: %v", err)
	}

	// A wrong pin fails before any layer is downloaded.
	wrong := "sha256:" + strings.Repeat("0", 64)
	_, err = bootstrapFor(t, env, &Config{Image: ref, Digest: wrong}, creds)
	var pin *PinError
	if !errors.As(err, &pin) || !strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), ocitest.Digest(t, amd)) {
		t.Errorf("wrong pin: %v", err)
	}
	if entries, _ := os.ReadDir(env.WorkDir); len(entries) != 0 {
		t.Errorf("a wrong pin left %d files in the work directory", len(entries))
	}

	// No image of the recipe's architecture; an image of another.
	_, err = resolveFor(t, ociEnv(t, "armhf", reg.Client), &Config{Image: ref}, creds)
	if err == nil || !strings.Contains(err.Error(), "no image for linux/arm/v7") || !strings.Contains(err.Error(), "linux/arm64/v8") {
		t.Errorf("armhf from an amd64+arm64 index: %v", err)
	}
	armOnly := reg.Push(t, "test/base:arm", arm)
	_, err = resolveFor(t, env, &Config{Image: armOnly}, creds)
	if err == nil || !strings.Contains(err.Error(), "is an image for linux/arm64/v8, but the recipe builds amd64") {
		t.Errorf("an arm64 image for an amd64 recipe: %v", err)
	}
}

// TestOCIHTTPSOnly: a registry on loopback is never spoken to in plain
// HTTP, which go-containerregistry would fall back to.
func TestOCIHTTPSOnly(t *testing.T) {
	var asked bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { asked = true }))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	_, err := resolveFor(t, ociEnv(t, "amd64", nil), &Config{Image: host + "/test/base:v1"}, noEnv)
	if err == nil || asked {
		t.Errorf("a plain HTTP registry was asked (%v): %v", asked, err)
	}
}

func TestOCILayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layout")
	img := twoLayers(t, "amd64", "")
	ocitest.WriteLayout(t, dir, "v1", img)
	env := ociEnv(t, "amd64", nil)
	root, err := bootstrapFor(t, env, &Config{Layout: dir, Image: "v1"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	checkTwoLayers(t, root, "amd64")
	// The layout's only image needs no name.
	if r, err := resolveFor(t, env, &Config{Layout: dir}, noEnv); err != nil || r.digest.String() != ocitest.Digest(t, img) {
		t.Errorf("the only image: %v, %v", r, err)
	}
	if _, err := resolveFor(t, env, &Config{Layout: dir, Image: "v2"}, noEnv); err == nil || !strings.Contains(err.Error(), `no image "v2"`) {
		t.Errorf("a missing ref.name: %v", err)
	}

	// A tampered layer fails on its digest, before it is applied.
	second := ocitest.TamperLayer(t, dir, img, 1)
	root, err = bootstrapFor(t, env, &Config{Layout: dir, Image: "v1"}, noEnv)
	var digestErr *LayerDigestError
	if !errors.As(err, &digestErr) || !strings.Contains(err.Error(), "layer 2 of 2 ("+second.String()+")") {
		t.Errorf("a tampered layer: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "opt/old/a")); err != nil {
		t.Errorf("the tampered layer was applied: %v", err)
	}
	if entries, _ := os.ReadDir(env.WorkDir); len(entries) != 0 {
		t.Errorf("the tampered layer's download is left in the work directory")
	}
}

// TestOCIDiffIDs: a layer whose tar stream is not the one its image's
// config states fails, and so does a config listing other layers.
func TestOCIDiffIDs(t *testing.T) {
	img := twoLayers(t, "amd64", "")
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	for name, diffIDs := range map[string][]v1.Hash{
		"the image's config says sha256:" + strings.Repeat("0", 64): {cfg.RootFS.DiffIDs[0], {Algorithm: "sha256", Hex: strings.Repeat("0", 64)}},
		"its config lists 1 layers, its manifest 2":                 cfg.RootFS.DiffIDs[:1],
	} {
		c := cfg.DeepCopy()
		c.RootFS.DiffIDs = diffIDs
		lying, err := mutate.ConfigFile(img, c)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "layout")
		ocitest.WriteLayout(t, dir, "v1", lying)
		if _, err := bootstrapFor(t, ociEnv(t, "amd64", nil), &Config{Layout: dir}, noEnv); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestOCIHostileLayer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layout")
	ocitest.WriteLayout(t, dir, "evil", ocitest.Image(t, "amd64", "",
		ocitest.Layer(t, ocitest.File("etc/ok", "ok")),
		ocitest.Layer(t, ocitest.File("../escaped", "x"))))
	_, err := bootstrapFor(t, ociEnv(t, "amd64", nil), &Config{Layout: dir}, noEnv)
	if err == nil || !strings.Contains(err.Error(), `"../escaped"`) || !strings.Contains(err.Error(), "layer 2 of 2") {
		t.Errorf("a layer with ../: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escaped")); err == nil {
		t.Error("the hostile entry was written outside")
	}
}

func TestOCICheckLockable(t *testing.T) {
	digest := "sha256:" + strings.Repeat("0", 64)
	for _, tc := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{Backend: "oci", Image: "127.0.0.1:5000/base:v1"}, false},
		{Config{Backend: "oci", Image: "127.0.0.1:5000/base:v1", Digest: digest}, true},
		{Config{Backend: "oci", Image: "127.0.0.1:5000/base@" + digest}, true},
		{Config{Backend: "oci", Layout: "/srv/layout"}, false},
		{Config{Backend: "oci", Layout: "/srv/layout", Digest: digest}, true},
	} {
		if err := checkLockable(&tc.cfg); (err == nil) != tc.ok {
			t.Errorf("%+v: %v, want ok=%v", tc.cfg, err, tc.ok)
		}
	}
	// Resolving under --locked refuses before asking anything.
	_, err := ociBackend{}.Resolve(context.Background(), ResolveEnv{Locked: true}, &Config{Backend: "oci", Image: "127.0.0.1:1/base:v1"})
	if err == nil || !strings.Contains(err.Error(), "is not pinned") {
		t.Errorf("a tag under --locked: %v", err)
	}
}

// TestOCIPlatformChoice: an index offering several variants of an
// architecture (as busybox's lists linux/arm/v5, v6 and v7) gives each
// recipe architecture its own: Debian's armel is ARMv5, armhf ARMv7,
// and a stated variant wins over none. Two images for the same platform
// need a pin, which then picks one.
func TestOCIPlatformChoice(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layout")
	img := func(arch, variant string) v1.Image {
		return ocitest.Image(t, arch, variant, ocitest.Layer(t, ocitest.File("etc/platform", arch+"/"+variant)))
	}
	v5, v6, v7, arm64, arm64v8 := img("arm", "v5"), img("arm", "v6"), img("arm", "v7"), img("arm64", ""), img("arm64", "v8")
	amd1, amd2 := img("amd64", ""), ocitest.Image(t, "amd64", "", ocitest.Layer(t, ocitest.File("etc/other", "x")))
	ocitest.WriteLayoutIndex(t, dir, "all", ocitest.Index(t, v6, v7, v5, arm64, arm64v8, amd1, amd2))
	for arch, want := range map[string]v1.Image{"armel": v5, "armhf": v7, "arm64": arm64v8} {
		r, err := resolveFor(t, ociEnv(t, arch, nil), &Config{Layout: dir, Image: "all"}, noEnv)
		if err != nil || r.digest.String() != ocitest.Digest(t, want) {
			t.Errorf("%s: %v, %v; want %s", arch, r, err, ocitest.Digest(t, want))
		}
	}
	env := ociEnv(t, "amd64", nil)
	if _, err := resolveFor(t, env, &Config{Layout: dir, Image: "all"}, noEnv); err == nil || !strings.Contains(err.Error(), "has 2 images for linux/amd64") {
		t.Errorf("two amd64 images, no pin: %v", err)
	}
	r, err := resolveFor(t, env, &Config{Layout: dir, Image: "all", Digest: ocitest.Digest(t, amd2)}, noEnv)
	if err != nil || r.digest.String() != ocitest.Digest(t, amd2) {
		t.Errorf("two amd64 images, the second pinned: %v, %v", r, err)
	}
}

// countingSource is a layout that records the blobs read from it.
type countingSource struct {
	*layoutSource
	read []string
}

func (s *countingSource) blob(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	s.read = append(s.read, h.String())
	return s.layoutSource.blob(ctx, h)
}

// TestOCILayersSizeBound: layers whose sizes, as the manifest states
// them, pass limits { tarball_size } together are refused before one is
// downloaded (a download is never larger than what it unpacks to, and a
// registry decides what a layer's blob holds past its tar stream).
func TestOCILayersSizeBound(t *testing.T) {
	noise := make([]byte, 48<<10)
	rand.New(rand.NewSource(1)).Read(noise)
	img := ocitest.Image(t, "amd64", "",
		ocitest.Layer(t, ocitest.File("a", string(noise))), ocitest.Layer(t, ocitest.File("b", string(noise))))
	dir := filepath.Join(t.TempDir(), "layout")
	ocitest.WriteLayout(t, dir, "v1", img)
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	env := ociEnv(t, "amd64", nil)
	env.MaxExtract = 64 << 10
	ls, err := newLayoutSource(dir, "v1")
	if err != nil {
		t.Fatal(err)
	}
	src := &countingSource{layoutSource: ls}
	digest, err := v1.NewHash(ocitest.Digest(t, img))
	if err != nil {
		t.Fatal(err)
	}
	err = bootstrapOCI(context.Background(), env, src, &Config{Layout: dir, Image: "v1"}, digest, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "tarball_size") {
		t.Errorf("two 48 KiB layers past a 64 KiB bound: %v", err)
	}
	for _, l := range layers {
		d, _ := l.Digest()
		if slices.Contains(src.read, d.String()) {
			t.Errorf("layer %s was downloaded", d)
		}
	}
}

// TestOCIManifestWithoutMediaType: an image manifest may leave out its
// mediaType field (image-spec: it SHOULD be there; older tools omit it),
// the index that lists it saying what it is. The bootstrap, which
// fetches it again by digest alone, tells it by its fields.
func TestOCIManifestWithoutMediaType(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layout")
	img := twoLayers(t, "amd64", "")
	ocitest.WriteLayout(t, dir, "v1", img)
	rewriteManifest(t, dir, img, func(m map[string]any) { delete(m, "mediaType") })
	root, err := bootstrapFor(t, ociEnv(t, "amd64", nil), &Config{Layout: dir, Image: "v1"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	checkTwoLayers(t, root, "amd64")
}

// rewriteManifest changes img's manifest in the layout at dir with edit,
// and makes index.json list the new one as v1; it returns its digest.
func rewriteManifest(t *testing.T, dir string, img v1.Image, edit func(map[string]any)) v1.Hash {
	t.Helper()
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if raw, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	if err := os.WriteFile(filepath.Join(dir, "blobs/sha256", hex.EncodeToString(sum[:])), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	index := fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}`, digest, len(raw))
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestOCILayerMediaTypesFirst: a layer builder does not apply (here an
// encrypted one) fails the build before any layer is downloaded.
func TestOCILayerMediaTypesFirst(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layout")
	img := twoLayers(t, "amd64", "")
	ocitest.WriteLayout(t, dir, "v1", img)
	const encrypted = "application/vnd.oci.image.layer.v1.tar+gzip+encrypted"
	digest := rewriteManifest(t, dir, img, func(m map[string]any) {
		m["layers"].([]any)[1].(map[string]any)["mediaType"] = encrypted
	})
	ls, err := newLayoutSource(dir, "v1")
	if err != nil {
		t.Fatal(err)
	}
	src := &countingSource{layoutSource: ls}
	err = bootstrapOCI(context.Background(), ociEnv(t, "amd64", nil), src, &Config{Layout: dir, Image: "v1"}, digest, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "layer 2 of 2") || !strings.Contains(err.Error(), encrypted) {
		t.Errorf("an encrypted layer: %v", err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		d, _ := l.Digest()
		if slices.Contains(src.read, d.String()) {
			t.Errorf("layer %s was downloaded", d)
		}
	}
}

// TestOCILayoutManifestBounded: a layout's manifest is read up to the
// bound, not whole into memory first (a blob of 256 MiB, sparse here,
// or a symlink to /dev/zero).
func TestOCILayoutManifestBounded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layout")
	ocitest.WriteLayout(t, dir, "v1", twoLayers(t, "amd64", ""))
	hexDigest := strings.Repeat("ab", 32)
	f, err := os.Create(filepath.Join(dir, "blobs/sha256", hexDigest))
	if err == nil {
		err = errors.Join(f.Truncate(256<<20), f.Close())
	}
	if err != nil {
		t.Fatal(err)
	}
	index := fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}`, hexDigest, 256<<20)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = resolveFor(t, ociEnv(t, "amd64", nil), &Config{Layout: dir, Image: "v1"}, noEnv)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a 256 MiB manifest: %v", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Errorf("reading a 256 MiB manifest allocated %d MiB", got>>20)
	}
}
