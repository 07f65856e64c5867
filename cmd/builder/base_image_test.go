package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/internal/testenv"
)

// baseVariant edits recipes/busybox.hcl into a base image for
// bootstrap "image", with properties and a template of its own to keep
// or drop, motd saying which one it is, and output as its output block
// (the recipe's own, unified, when empty).
func baseVariant(motd, output string) func(string) string {
	return func(src string) string {
		src = strings.Replace(src, `expiry       = "7d"`, `expiry       = "7d"
  properties = { "base.keep" = "kept", "base.drop" = "dropped" }`, 1)
		src = strings.Replace(src, "Built by builder from recipes/busybox.hcl.", motd, 1)
		if output != "" {
			src = strings.Replace(src, `output {
  type        = "unified"
  compression = "gzip"
}`, output, 1)
		}
		return src + `
template "/etc/base-note" {
  content = "base {{ container.name }}\n"
}
`
	}
}

// derivedRecipe builds on the image alias names on daemon (or on its
// remote, when set), dropping the base's /etc/hosts template and
// replacing its /etc/hostname one.
func derivedRecipe(daemon, remote, alias, pin string) string {
	pinLine := ""
	if pin != "" {
		pinLine = "  fingerprint = \"" + pin + "\"\n"
	}
	if remote != "" {
		pinLine += "  remote = \"" + remote + "\"\n"
	}
	return `image {
  name         = "derived"
  distribution = "busybox"
  release      = "derived"
  architecture = "amd64"
}

bootstrap "image" {
  daemon          = "` + daemon + `"
  alias           = "` + alias + `"
` + pinLine + `  drop_templates  = ["/etc/hosts"]
  drop_properties = ["base.drop"]
}

file "/etc/derived" {
  content = "on top\n"
}

run "mark" {
  stage  = "post-files"
  script = "#!/bin/sh\nset -eu\ntest -x /bin/busybox\ncat /etc/motd > /etc/base-motd\necho derived > /etc/builder-recipe\n"
}

template "/etc/hostname" {
  content = "derived-{{ container.name }}\n"
}

output {
  type          = "split"
  compression   = "zstd"
  rootfs        = "tar"
}
`
}

// TestImageBootstrapFromDaemon builds busybox bases, imports them into
// each daemon and builds a recipe on top with bootstrap "image": the
// image records its base, the base's templates and properties are kept,
// replaced and dropped as declared, a second build reuses the stage
// cache while an alias moved to another base does not, a pin the alias
// no longer names fails before anything is downloaded, and the image is
// taken over HTTPS from a remote of the client configuration too.
func TestImageBootstrapFromDaemon(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	daemons := testenv.Daemons(t)
	// The bases come in each form a daemon exports: split with a tar
	// rootfs, split with squashfs, unified.
	first, _ := busyboxVariant(t, "base-one", baseVariant("base one", "output {\n  type = \"split\"\n  rootfs = \"tar\"\n}"))
	second, _ := busyboxVariant(t, "base-two", baseVariant("base two", "output {\n  type = \"split\"\n  rootfs = \"squashfs\"\n}"))
	third, _ := busyboxVariant(t, "base-three", baseVariant("base three", ""))
	fp3 := readImageJSON(t, third).Fingerprint
	fp1, fp2 := readImageJSON(t, first).Fingerprint, readImageJSON(t, second).Fingerprint
	suffix := uniqueSuffix()
	for _, d := range daemons {
		t.Run(d.Name, func(t *testing.T) {
			tmp := t.TempDir()
			alias := "builder-test-base/" + suffix // a slash, as debian/12 has
			importJSON(t, append([]string{first, "--alias", alias}, d.Args()...)...)
			deleteImageLaterOn(t, d, fp1)
			recipePath := filepath.Join(tmp, "derived.hcl")
			writeFile(t, recipePath, derivedRecipe(d.Name, "", alias, ""))
			cacheDir := filepath.Join(tmp, "cache")

			out := filepath.Join(tmp, "out1")
			cold := cachedBuildOf(t, recipePath, cacheDir, out)
			checkDerived(t, out, d.Name, alias, fp1, "base one")
			if cold.status("bootstrap") == events.CacheHit {
				t.Errorf("the first build hit the cache: %v", cold.cache)
			}

			// The shipped recipe, pinned to the base.
			shipped := filepath.Join(tmp, "shipped")
			if _, stderr, status := builderExec(t, nil, "build", "recipes/busybox-image.hcl", "-o", shipped, "--cache-dir", cacheDir,
				"--var", "daemon="+d.Name, "--var", "alias="+alias, "--var", "fingerprint="+fp1); status != 0 {
				t.Fatalf("building recipes/busybox-image.hcl: exit %d\n%s", status, stderr)
			}
			checkShipped(t, shipped, fp1)

			warm := cachedBuildOf(t, recipePath, cacheDir, filepath.Join(tmp, "out2"))
			if warm.status("files") != events.CacheHit || len(warm.ran) != 0 {
				t.Errorf("the second build: cache %v, ran %v; want every stage from the cache", warm.cache, warm.ran)
			}

			// builder rootfs now, builder pack after the alias moved.
			rootfsDir := filepath.Join(tmp, "rootfs")
			if _, stderr, status := builderExec(t, nil, "rootfs", recipePath, rootfsDir, "--cache-dir", cacheDir); status != 0 {
				t.Fatalf("builder rootfs: exit %d\n%s", status, stderr)
			}

			// The alias moves to another image: the build follows it
			// and misses the cache.
			importJSON(t, append([]string{second, "--alias", alias}, d.Args()...)...)
			deleteImageLaterOn(t, d, fp2)
			moved := cachedBuildOf(t, recipePath, cacheDir, filepath.Join(tmp, "out3"))
			if moved.status("bootstrap") == events.CacheHit || len(moved.cached) != 0 {
				t.Errorf("after the alias moved: cache %v, cached steps %v; want a fresh build", moved.cache, moved.cached)
			}
			checkDerived(t, filepath.Join(tmp, "out3"), d.Name, alias, fp2, "base two")

			// pack records the base the rootfs was built on, with its
			// metadata, not the one the alias names by then; a recipe
			// pinned to another base is refused.
			packed := filepath.Join(tmp, "packed")
			if _, stderr, status := builderExec(t, nil, "pack", rootfsDir, "--recipe", recipePath, "-o", packed); status != 0 {
				t.Fatalf("builder pack: exit %d\n%s", status, stderr)
			}
			checkDerived(t, packed, d.Name, alias, fp1, "base one")
			pinnedRecipe := filepath.Join(tmp, "pinned.hcl")
			writeFile(t, pinnedRecipe, derivedRecipe(d.Name, "", alias, fp2))
			if _, stderr, status := builderExec(t, nil, "pack", rootfsDir, "--recipe", pinnedRecipe, "-o", filepath.Join(tmp, "packed2")); status == 0 ||
				!strings.Contains(stderr, "is fingerprint "+fp1+", but the recipe pins "+fp2) {
				t.Errorf("packing a rootfs built on another base than the pin: exit %d\n%s", status, stderr)
			}

			importJSON(t, append([]string{third, "--alias", alias}, d.Args()...)...)
			deleteImageLaterOn(t, d, fp3)
			unified := cachedBuildOf(t, recipePath, cacheDir, filepath.Join(tmp, "out4"))
			if len(unified.cached) != 0 {
				t.Errorf("on the unified base: cached steps %v; want a fresh build", unified.cached)
			}
			checkDerived(t, filepath.Join(tmp, "out4"), d.Name, alias, fp3, "base three")

			// A pin the alias no longer names fails before anything is
			// downloaded, and leaves nothing behind.
			writeFile(t, recipePath, derivedRecipe(d.Name, "", alias, fp1))
			work := filepath.Join(tmp, "work")
			pinned := filepath.Join(tmp, "pinned")
			_, stderr, status := builderExec(t, nil, "build", recipePath, "-o", pinned, "--work-dir", work, "--cache-dir", cacheDir)
			if status == 0 || !strings.Contains(stderr, "but the recipe pins "+fp1) || !strings.Contains(stderr, fp3) {
				t.Errorf("a stale pin: exit %d\n%s", status, stderr)
			}
			for _, dir := range []string{pinned, work} {
				if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 || err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the failed build left %s: %v %v", dir, entries, err)
				}
			}

			// Over HTTPS, from a remote of the client configuration.
			_, conf := trustedRemote(t, d)
			writeFile(t, recipePath, derivedRecipe(d.Name, "buildertest", alias, fp3))
			remote := filepath.Join(tmp, "remote")
			if _, stderr, status := builderExec(t, []string{confVar(d) + "=" + conf}, "build", recipePath, "-o", remote, "--cache-dir", cacheDir); status != 0 {
				t.Fatalf("building on a remote's image: exit %d\n%s", status, stderr)
			}
			checkDerived(t, remote, "buildertest", alias, fp3, "base three")
		})
	}
}

// cachedBuildOf is cachedBuild on another recipe.
func cachedBuildOf(t *testing.T, recipePath, cacheDir, out string) cachedRun {
	t.Helper()
	r, err := tryCachedBuildOf(builderBinary(t), recipePath, cacheDir, out)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkDerived checks a build on a base from source: image.json's base, the base's
// files with the recipe's on top, and the metadata the recipe merged.
func checkDerived(t *testing.T, out, source, alias, baseFP, motd string) {
	t.Helper()
	j, err := image.ReadImageJSON(out)
	if err != nil {
		t.Fatal(err)
	}
	want := image.Base{Kind: "image", Source: source, Reference: alias, Fingerprint: baseFP}
	if j.Base == nil || *j.Base != want || j.BaseFingerprint != baseFP {
		t.Errorf("image.json base %+v, base_fingerprint %s; want %+v", j.Base, j.BaseFingerprint, want)
	}
	if j.Properties["base.keep"] != "kept" || j.Properties["base.drop"] != "" || j.Properties["release"] != "derived" ||
		j.Properties["description"] == "BusyBox (static) amd64" {
		t.Errorf("properties: %v; want base.keep kept, base.drop dropped, release and description the recipe's", j.Properties)
	}
	if sbom, err := os.ReadFile(filepath.Join(out, image.SBOMName)); err != nil || !strings.Contains(string(sbom), "built on base image "+baseFP+" from "+source) {
		t.Errorf("the SBOM does not name the base (%v)", err)
	}
	md, templates := readMetadataOf(t, filepath.Join(out, j.Files[0].Name))
	var paths []string
	for p := range md.Templates {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	if !slices.Equal(paths, []string{"/etc/base-note", "/etc/hostname"}) {
		t.Errorf("templates for %v; want the base's /etc/base-note kept, /etc/hosts dropped, /etc/hostname the recipe's", paths)
	}
	if got := templates[md.Templates["/etc/hostname"].Template]; !strings.HasPrefix(got, "derived-") {
		t.Errorf("the /etc/hostname template is %q; want the recipe's", got)
	}
	if got := templates[md.Templates["/etc/base-note"].Template]; got != "base {{ container.name }}\n" {
		t.Errorf("the /etc/base-note template is %q; want the base's", got)
	}
	files := readTarFiles(t, filepath.Join(out, j.Files[1].Name), "etc/derived", "etc/base-motd", "etc/builder-recipe")
	if files["etc/derived"] != "on top\n" || files["etc/base-motd"] != motd+"\n" || files["etc/builder-recipe"] != "derived\n" {
		t.Errorf("the rootfs holds %q; want the base's motd (%q) and the recipe's files", files, motd)
	}
}

// checkShipped checks recipes/busybox-image.hcl's image: unified, on
// the base, with the base's files and templates and the recipe's motd.
func checkShipped(t *testing.T, out, baseFP string) {
	t.Helper()
	j, err := image.ReadImageJSON(out)
	if err != nil {
		t.Fatal(err)
	}
	if j.BaseFingerprint != baseFP || !j.Unified() {
		t.Errorf("image.json: base %s, %d files; want base %s, unified", j.BaseFingerprint, len(j.Files), baseFP)
	}
	md, _ := readMetadataOf(t, filepath.Join(out, j.Files[0].Name))
	if _, ok := md.Templates["/etc/hostname"]; !ok {
		t.Errorf("the base's /etc/hostname template is gone: %v", md.Templates)
	}
	files := readTarFiles(t, filepath.Join(out, j.Files[0].Name), "rootfs/etc/motd", "rootfs/etc/init.d/rcS")
	if files["rootfs/etc/motd"] != "Customised by builder from recipes/busybox-image.hcl.\n" || files["rootfs/etc/init.d/rcS"] == "" {
		t.Errorf("the rootfs holds %q; want the recipe's motd and the base's rcS", files)
	}
}

// readMetadataOf reads metadata.yaml and the templates of a metadata
// tarball.
func readMetadataOf(t *testing.T, path string) (image.Metadata, map[string]string) {
	t.Helper()
	var md image.Metadata
	templates := map[string]string{}
	for name, content := range readTarFiles(t, path) {
		switch {
		case name == "metadata.yaml":
			if err := yaml.Unmarshal([]byte(content), &md); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(name, "templates/"):
			templates[strings.TrimPrefix(name, "templates/")] = content
		}
	}
	return md, templates
}

// readTarFiles reads the regular files of a (compressed) tar archive:
// those named, or all of them when none is.
func readTarFiles(t *testing.T, path string, names ...string) map[string]string {
	t.Helper()
	a, err := confined.OpenArchive(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	files := map[string]string{}
	tr := tar.NewReader(a)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if h.Typeflag != tar.TypeReg || len(names) > 0 && !slices.Contains(names, name) {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(data)
	}
}
