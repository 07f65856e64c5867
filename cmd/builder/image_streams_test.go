package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/sign/signtest"
	"github.com/builder-images/builder/internal/testenv"
)

// streamsChildRecipe is a recipe on top of a base image from a
// simplestreams server, named by attrs (alias, fingerprint): a file and
// a run step that sees the base.
func streamsChildRecipe(t *testing.T, server, attrs string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "child.hcl")
	writeFile(t, path, `image {
  name         = "child"
  distribution = "busybox"
  release      = "static"
  architecture = "amd64"
}

bootstrap "image" {
  server = "`+server+`"
  `+attrs+`
}

file "/etc/child" {
  content = "child\n"
}

run "on-the-base" {
  stage  = "post-files"
  script = "#!/bin/sh\nset -eu\ngrep -q 'Built by builder' /etc/motd\necho ran > /etc/child-run\n"
}
`)
	return path
}

// checkBase checks image.json's record of the base in the output
// directory out.
func checkBase(t *testing.T, out string, want image.Base) {
	t.Helper()
	j, err := image.ReadImageJSON(out)
	if err != nil {
		t.Fatal(err)
	}
	if j.Base == nil || *j.Base != want || j.BaseFingerprint != want.Fingerprint {
		t.Errorf("image.json base %+v, base_fingerprint %s; want %+v", j.Base, j.BaseFingerprint, want)
	}
}

// TestImageFromSimplestreams publishes busybox, split with a squashfs
// rootfs and unified, into a signed tree served by builder serve over HTTPS
// with a test CA (trusted through SSL_CERT_FILE), then builds on top of
// it: by alias (the split image, the newest), by fingerprint alone (the
// unified one), with a wrong pin (refused before anything of the image
// is read) and from a copy of the tree whose squashfs was tampered with
// (refused naming it).
func TestImageFromSimplestreams(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	testenv.Command(t, "mksquashfs", "squashfs-tools")
	testenv.Command(t, "sqfs2tar", "squashfs-tools-ng")
	tmp := t.TempDir()
	split, unified := buildPair(t, tmp)
	tree := filepath.Join(tmp, "tree")
	// Signed, as a tree published for others is: builder reads its
	// index.json and images.json as an unsigned tree's.
	k := signtest.NewKey(t, "streams", "")
	runBuilder(t, nil, "publish", tree, split, unified, "--sign-key", k.SecretFile)
	caFile, cert, key := testCA(t, tmp)
	server := startServe(t, tree, cert, key) + "/"
	env := []string{"SSL_CERT_FILE=" + caFile}
	splitFP, unifiedFP := readImageJSON(t, split).Fingerprint, readImageJSON(t, unified).Fingerprint

	build := func(t *testing.T, recipe, out string) (string, int) {
		t.Helper()
		_, stderr, status := builderExec(t, env, "build", recipe, "-o", out, "--rootfs-format", "tar", "--compression", "gzip", "--cache-dir", filepath.Join(tmp, "cache"))
		return stderr, status
	}
	alias := `alias = "busybox/static/default"`
	for _, tt := range []struct{ name, attrs, reference, fingerprint string }{
		{"alias", alias, "busybox/static/default", splitFP},
		{"fingerprint", `fingerprint = "` + unifiedFP + `"`, "", unifiedFP},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			if stderr, status := build(t, streamsChildRecipe(t, server, tt.attrs), out); status != 0 {
				t.Fatalf("build: exit %d\n%s", status, stderr)
			}
			checkBase(t, out, image.Base{Kind: "image", Source: server, Reference: tt.reference, Fingerprint: tt.fingerprint})
			files := readTarFiles(t, filepath.Join(out, "rootfs.tar.gz"), "bin/busybox", "etc/motd", "etc/child", "etc/child-run")
			if len(files) != 4 || files["etc/child-run"] != "ran\n" {
				t.Errorf("the image holds %d of the base's and the recipe's files; /etc/child-run %q", len(files), files["etc/child-run"])
			}
		})
	}

	t.Run("wrong pin", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		wrong := strings.Repeat("0", 64)
		stderr, status := build(t, streamsChildRecipe(t, server, alias+"\n  fingerprint = \""+wrong+"\""), out)
		if status == 0 || !strings.Contains(stderr, "is fingerprint "+splitFP+", but the recipe pins "+wrong) {
			t.Fatalf("a wrong pin: exit %d\n%s", status, stderr)
		}
		if _, err := os.Stat(filepath.Dir(out)); err == nil {
			if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) > 0 {
				t.Errorf("a refused build left %v", entries)
			}
		}
	})

	t.Run("tampered rootfs", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "tree")
		copyTree(t, tree, bad)
		var squashfs string
		for _, f := range readImageJSON(t, split).Files {
			if f.Role == "rootfs" {
				squashfs = "images/" + f.SHA256 + ".squashfs"
			}
		}
		p := filepath.Join(bad, squashfs)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0xff
		writeFile(t, p, string(data))
		badServer := startServe(t, bad, cert, key) + "/"
		out := filepath.Join(t.TempDir(), "out")
		stderr, status := build(t, streamsChildRecipe(t, badServer, `alias = "busybox/static/default"`), out)
		if status == 0 || !strings.Contains(stderr, squashfs+" has sha256") {
			t.Fatalf("a tampered squashfs: exit %d\n%s", status, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("a refused build left %s", out)
		}
	})
}

// TestMatrixImageBackend: builder matrix lists the jobs of a recipe
// that starts from an image, without asking its server anything.
func TestMatrixImageBackend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "matrix.hcl")
	writeFile(t, path, `variable "release" {
  default = "12"
}
matrix {
  release = ["11", "12"]
}
image {
  name         = "custom-${var.release}"
  distribution = "debian"
  release      = var.release
}
bootstrap "image" {
  server = "https://127.0.0.1:1/"
  alias  = "debian/${var.release}"
}
`)
	var got []string
	for _, j := range matrixJobs(t, path) {
		got = append(got, j.Name+"/"+j.Image)
	}
	if want := "matrix-11/custom-11 matrix-12/custom-12"; strings.Join(got, " ") != want {
		t.Errorf("jobs %s, want %s", strings.Join(got, " "), want)
	}
}
