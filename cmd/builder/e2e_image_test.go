package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/internal/testenv"
)

// customiseDebianImage is TestEndToEndDebian's "image" subtest:
// recipes/debian-image.hcl on top of the Debian container image the test
// built (container, an output directory), published into a tree that
// builder serve serves over HTTPS with a test CA. The customised image is
// imported into d and launched: it boots, carries what the recipe added
// and what the base had, and the base's hostname template, kept, renders.
func customiseDebianImage(t *testing.T, cacheDir, container string, d testenv.Daemon, suffix string) {
	tmp := t.TempDir()
	tree := filepath.Join(tmp, "tree")
	runBuilder(t, nil, "publish", tree, container)
	caFile, cert, key := testCA(t, tmp)
	server := startServe(t, tree, cert, key) + "/"
	base := readImageJSON(t, container)

	out := filepath.Join(tmp, "out")
	alias := "builder-e2e-debian-image-" + suffix
	start := time.Now()
	_, stderr, status := builderExec(t, []string{"SSL_CERT_FILE=" + caFile}, append([]string{"build", "recipes/debian-image.hcl",
		"--var", "server=" + server, "--var", "alias=debian/bookworm/default", "--var", "fingerprint=" + base.Fingerprint,
		// gzip: mksquashfs's xz, the recipe's, takes minutes of CI time
		// on a Debian tree.
		"--compression", "gzip", "-o", out, "--import=" + alias, "--cache-dir", cacheDir}, d.Args()...)...)
	if status != 0 {
		t.Fatalf("building recipes/debian-image.hcl: exit %d\n%s", status, stderr)
	}
	t.Logf("recipes/debian-image.hcl built and imported in %s", time.Since(start).Round(time.Second))
	j := readImageJSON(t, out)
	deleteImageLaterOn(t, d, j.Fingerprint)
	checkBase(t, out, image.Base{Kind: "image", Source: server, Reference: "debian/bookworm/default", Fingerprint: base.Fingerprint})
	// The image block's properties win over the base's; the base's own
	// stay.
	if j.Properties["description"] != "Debian bookworm amd64, customised from debian/bookworm/default" || j.Properties["os"] != "debian" {
		t.Errorf("properties %v", j.Properties)
	}

	name := "bt-e2e-custom-" + suffix
	cli(t, d, "launch", alias, name, "--no-profiles", "--storage", "default")
	cliLater(t, d, "delete", "--force", name)
	if state := systemStateOn(t, d, name, 2*time.Minute); state != "running" {
		t.Errorf("systemd in %s is %q, want running", name, state)
	}
	for cmd, want := range map[string]string{
		"cat /etc/builder-recipe": "debian-image",
		"cat /etc/motd":           "Customised by builder from recipes/debian-image.hcl.",
		"cat /etc/hostname":       name, // the base's template
		"jq -n 1+1":               "2",
	} {
		if got := strings.TrimSpace(cli(t, d, append([]string{"exec", name, "--"}, strings.Fields(cmd)...)...)); got != want {
			t.Errorf("%s in %s: %q, want %q", cmd, name, got, want)
		}
	}
}
