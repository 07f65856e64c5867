package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/builder-images/builder/internal/ocitest"
)

// ociBase is the busybox tree as a two-layer OCI image: the tree (with
// /etc/doomed and /opt/old/{a,sub/b} added), then a layer that whites
// out /etc/doomed and makes /opt/old opaque, with one new file in it.
func ociBase(t *testing.T, bin string) v1.Image {
	t.Helper()
	tree := busyboxTree(t, bin, filepath.Join(t.TempDir(), "tree"))
	for name, content := range map[string]string{"etc/doomed": "d", "opt/old/a": "a", "opt/old/sub/b": "b"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(tree, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(tree, name), content)
	}
	return ocitest.Image(t, "amd64", "", ocitest.DirLayer(t, tree),
		ocitest.Layer(t, ocitest.Whiteout("etc/doomed"), ocitest.Dir("opt/old/"), ocitest.Opaque("opt/old"), ocitest.File("opt/old/new", "n")))
}

// checkOCIRootfs checks a tree built on ociBase: the layers' whiteouts
// applied, the recipe's run step run by the image's own shell.
func checkOCIRootfs(t *testing.T, exists func(string) bool, read func(string) string) {
	t.Helper()
	for name, want := range map[string]bool{"bin/busybox": true, "etc/doomed": false, "opt/old/a": false, "opt/old/sub": false, "opt/old/new": true} {
		if got := exists(name); got != want {
			t.Errorf("/%s exists: %v, want %v", name, got, want)
		}
	}
	if got := read("etc/origin"); got != "tree\n" {
		t.Errorf("/etc/origin, from the first layer: %q", got)
	}
}

// TestOCIBootstrap builds on an image it pushes to a real registry
// (Debian's docker-registry, on loopback, over HTTPS with a test CA and
// a password) and writes as an OCI layout: recipes/oci.hcl end to end,
// and the failures: a tampered layer, a layer climbing out with "../",
// another architecture, a wrong pin, a tag under --locked.
func TestOCIBootstrap(t *testing.T) {
	if testing.Short() {
		t.Skip("builds images and starts a registry")
	}
	requireRoot(t)
	requireBusybox(t)
	bin := builderBinary(t)
	tmp := t.TempDir()
	img := ociBase(t, bin)
	digest := ocitest.Digest(t, img)
	reg := ocitest.StartRegistry(t, ocitest.Options{Password: "oci-test-password"})
	ref := reg.Push(t, "test/busybox:v1", img)
	env := []string{"SSL_CERT_FILE=" + reg.CAFile, "BUILDER_REGISTRY_USERNAME=" + reg.Username, "BUILDER_REGISTRY_PASSWORD=" + reg.Password}

	t.Run("recipe", func(t *testing.T) {
		out := filepath.Join(tmp, "out")
		stdout, stderr, status := builderExec(t, env, "build", "recipes/oci.hcl", "--var", "image="+ref, "-o", out)
		if status != 0 {
			t.Fatalf("builder build recipes/oci.hcl: exit %d\n%s%s", status, stdout, stderr)
		}
		if strings.Contains(stdout+stderr, reg.Password) {
			t.Error("the registry password was printed")
		}
		files := unifiedRootfs(t, out)
		checkOCIRootfs(t, func(n string) bool { _, ok := files[n]; return ok }, func(n string) string { return files[n] })
		if files["etc/builder-recipe"] != "oci\n" || !strings.Contains(files["etc/motd"], "recipes/oci.hcl") {
			t.Errorf("the recipe's steps: builder-recipe %q, motd %q", files["etc/builder-recipe"], files["etc/motd"])
		}
		checkImageJSONBase(t, out, reg.Host+"/test/busybox", "v1", digest)
		checkNoSecret(t, out, reg.Password)
	})

	t.Run("layout", func(t *testing.T) {
		layout := filepath.Join(tmp, "layout")
		ocitest.WriteLayout(t, layout, "v1", img)
		dir := filepath.Join(tmp, "from-layout")
		stdout, stderr, status := builderExec(t, nil, "rootfs", "cmd/builder/testdata/oci/oci.hcl", "--var", "layout="+layout, "--var", "image=v1", "--var", "digest="+digest, dir)
		if status != 0 {
			t.Fatalf("builder rootfs from a layout: exit %d\n%s%s", status, stdout, stderr)
		}
		checkOCIRootfs(t, func(n string) bool { _, err := os.Lstat(filepath.Join(dir, n)); return err == nil },
			func(n string) string { b, _ := os.ReadFile(filepath.Join(dir, n)); return string(b) })
		if b, _ := os.ReadFile(filepath.Join(dir, "etc/checked")); string(b) != "on-top\n" {
			t.Errorf("the run step on top of the layers: /etc/checked = %q", b)
		}

		// A tampered layer fails on its digest, and nothing is left.
		second := ocitest.TamperLayer(t, layout, img, 1)
		dir = filepath.Join(tmp, "tampered")
		_, stderr, status = builderExec(t, nil, "rootfs", "cmd/builder/testdata/oci/oci.hcl", "--var", "layout="+layout, dir)
		if status == 0 || !strings.Contains(stderr, "layer 2 of 2 ("+second.String()+")") || !strings.Contains(stderr, "nothing of it was applied") {
			t.Errorf("a tampered layer: exit %d\n%s", status, stderr)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the failed build left %s: %v", dir, err)
		}
	})

	// The stage cache keys on the digest: a tag unchanged is a hit, one
	// moved to another image a miss.
	t.Run("cache", func(t *testing.T) {
		moving := reg.Push(t, "test/moving:v1", img)
		cache := filepath.Join(tmp, "cache")
		run := func(dir string) string {
			t.Helper()
			stdout, stderr, status := builderExec(t, env, "rootfs", "cmd/builder/testdata/oci/oci.hcl", "--var", "image="+moving, dir, "--cache-dir", cache)
			if status != 0 {
				t.Fatalf("rootfs: exit %d\n%s%s", status, stdout, stderr)
			}
			return stdout
		}
		run(filepath.Join(tmp, "cached-a"))
		if out := run(filepath.Join(tmp, "cached-b")); !strings.Contains(out, "cache: bootstrap hit") {
			t.Errorf("the same tag and image again:\n%s", out)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		reg.Push(t, "test/moving:v1", ocitest.Image(t, "amd64", "", append(layers, ocitest.Layer(t, ocitest.File("etc/moved", "m")))...))
		dir := filepath.Join(tmp, "cached-c")
		if out := run(dir); !strings.Contains(out, "cache: bootstrap miss") {
			t.Errorf("the tag moved to another image:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(dir, "etc/moved")); err != nil {
			t.Errorf("the moved tag's image was not built: %v", err)
		}
		// The cache's keys, inputs and history hold the base, not the
		// credentials that fetched it.
		checkNoSecret(t, cache, reg.Password)
	})

	// One reference, two architectures: each build takes its manifest
	// from the index.
	t.Run("index", func(t *testing.T) {
		arm := ocitest.Image(t, "arm64", "v8", ocitest.Layer(t, ocitest.Dir("etc/"), ocitest.File("etc/arch", "arm64\n")))
		multi := reg.PushIndex(t, "test/multi:v1", ocitest.Index(t, img, arm))
		for arch, want := range map[string]string{"amd64": "etc/origin", "arm64": "etc/arch"} {
			dir := filepath.Join(tmp, "index-"+arch)
			_, stderr, status := builderExec(t, env, "rootfs", "cmd/builder/testdata/oci/matrix.hcl", "--var", "image="+multi, "--var", "architecture="+arch, dir)
			if status != 0 {
				t.Fatalf("%s from an index: exit %d\n%s", arch, status, stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
				t.Errorf("%s: not the %s image's tree: %v", arch, arch, err)
			}
		}
	})

	t.Run("hostile layer", func(t *testing.T) {
		evil := ocitest.Image(t, "amd64", "", ocitest.Layer(t, ocitest.File("etc/ok", "ok")),
			ocitest.Layer(t, ocitest.Dir("etc/"), ocitest.File("etc/../../escaped", "x")))
		evilRef := reg.Push(t, "test/evil:v1", evil)
		dir := filepath.Join(tmp, "hostile", "rootfs")
		_, stderr, status := builderExec(t, env, "rootfs", "cmd/builder/testdata/oci/oci.hcl", "--var", "image="+evilRef, dir)
		if status == 0 || !strings.Contains(stderr, `"etc/../../escaped"`) {
			t.Errorf("a layer with ../: exit %d\n%s", status, stderr)
		}
		if _, err := os.Stat(filepath.Join(tmp, "hostile", "escaped")); err == nil {
			t.Error("the hostile entry was written outside the rootfs")
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			want string
		}{
			{"architecture", []string{"--var", "image=" + ref, "--var", "architecture=arm64"}, "is an image for linux/amd64, but the recipe builds arm64"},
			{"pin", []string{"--var", "image=" + ref, "--var", "digest=sha256:" + strings.Repeat("0", 64)}, "v1 on " + reg.Host + "/test/busybox is digest " + digest + ", but the recipe pins sha256:" + strings.Repeat("0", 64)},
			{"credentials", []string{"--var", "image=" + ref}, "UNAUTHORIZED"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := env
				if tc.name == "credentials" {
					e = env[:1]
				}
				dir := filepath.Join(tmp, "refused-"+tc.name)
				_, stderr, status := builderExec(t, e, append(append([]string{"rootfs", "cmd/builder/testdata/oci/oci.hcl"}, tc.args...), dir)...)
				if status == 0 || !strings.Contains(stderr, tc.want) {
					t.Errorf("exit %d, want an error saying %q:\n%s", status, tc.want, stderr)
				}
			})
		}
	})

	// Under --locked a tag needs its digest; pinned, the recipe locks and
	// builds locked.
	t.Run("locked", func(t *testing.T) {
		lockFile := filepath.Join(tmp, "oci.lock.hcl")
		_, stderr, status := builderExec(t, env, "build", "--locked", "recipes/oci.hcl", "--var", "image="+ref, "--lock", lockFile, "-o", filepath.Join(tmp, "locked"))
		if status == 0 || !strings.Contains(stderr, "is not pinned") {
			t.Errorf("a tag without digest under --locked: exit %d\n%s", status, stderr)
		}
		pinned := []string{"recipes/oci.hcl", "--var", "image=" + ref, "--var", "digest=" + digest, "--lock", lockFile}
		if stdout, stderr, status := builderExec(t, env, append([]string{"lock", "--no-cache"}, pinned...)...); status != 0 {
			t.Fatalf("builder lock: exit %d\n%s%s", status, stdout, stderr)
		}
		out := filepath.Join(tmp, "locked")
		if stdout, stderr, status := builderExec(t, env, append(append([]string{"build", "--locked"}, pinned...), "-o", out)...); status != 0 {
			t.Fatalf("builder build --locked with a digest: exit %d\n%s%s", status, stdout, stderr)
		}
		checkImageJSONBase(t, out, reg.Host+"/test/busybox", "v1", digest)
		checkNoSecret(t, out, reg.Password)
	})
}

// unifiedRootfs reads the regular files (contents) and other entries
// ("") of the rootfs/ of the unified gzip image in out.
func unifiedRootfs(t *testing.T, out string) map[string]string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(out, "*.tar.gz"))
	if len(matches) != 1 {
		t.Fatalf("want one unified image in %s, found %v", out, matches)
	}
	files := map[string]string{}
	eachGzipTarEntry(t, matches[0], func(h *tar.Header, r io.Reader) {
		name, ok := strings.CutPrefix(strings.TrimPrefix(h.Name, "./"), "rootfs/")
		if !ok {
			return
		}
		name = strings.TrimSuffix(name, "/")
		files[name] = ""
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			files[name] = string(b)
		}
	})
	return files
}

// checkImageJSONBase checks image.json records the OCI base.
func checkImageJSONBase(t *testing.T, out, source, reference, digest string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "image.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ij struct {
		Base struct {
			Kind, Source, Reference, Fingerprint string
		} `json:"base"`
		BaseFingerprint string `json:"base_fingerprint"`
	}
	if err := json.Unmarshal(b, &ij); err != nil {
		t.Fatal(err)
	}
	if ij.Base.Kind != "oci" || ij.Base.Source != source || ij.Base.Reference != reference || ij.Base.Fingerprint != digest || ij.BaseFingerprint != digest {
		t.Errorf("image.json's base: %+v, base_fingerprint %q; want oci %s:%s %s", ij.Base, ij.BaseFingerprint, source, reference, digest)
	}
}

// TestOCIMatrix: builder matrix lists an oci recipe's jobs without
// asking any registry (resolving is the build's).
func TestOCIMatrix(t *testing.T) {
	var got []string
	for _, j := range matrixJobs(t, "testdata/oci/matrix.hcl") {
		got = append(got, j.Image+"/"+j.LXDArchitecture)
	}
	if want := "oci-amd64/x86_64 oci-arm64/aarch64"; strings.Join(got, " ") != want {
		t.Errorf("jobs %s, want %s", strings.Join(got, " "), want)
	}
}

// checkNoSecret fails t when a file below dir holds secret: the
// registry password a build was given is in no output, cache entry or
// record it leaves.
func checkNoSecret(t *testing.T, dir, secret string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the registry password", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
