package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/internal/sbomtest"
)

// checkSBOM is the SBOM's acceptance on a real output directory: image.json
// records sbom.spdx.json, SHA256SUMS lists it, the SPDX libraries parse
// and validate it, and its packages are exactly image.json's. A Debian
// image's packages have the distribution's purls and most of them a
// licence from their machine-readable copyright files.
// TestEndToEndDebian calls it on its image.
func checkSBOM(t *testing.T, dir string) {
	t.Helper()
	if err := sbomtest.CheckDir(dir); err != nil {
		t.Fatalf("the SBOM of %s: %v", dir, err)
	}
	j, err := image.ReadImageJSON(dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, image.SBOMName))
	if err != nil {
		t.Fatal(err)
	}
	checkSBOMCommand(t, dir, j, data)
	if len(j.Packages) == 0 {
		return
	}
	doc, err := sbomtest.CheckSPDX(data, j)
	if err != nil {
		t.Fatal(err)
	}
	declared := 0
	for _, p := range doc.Packages {
		if p.PackageLicenseDeclared != "" && p.PackageLicenseDeclared != "NOASSERTION" {
			declared++
		}
	}
	if os := j.Properties["os"]; os != "" && !bytes.Contains(data, []byte(`"pkg:deb/`+strings.ToLower(os)+`/`)) {
		t.Errorf("no purl of the %s namespace in the SBOM", os)
	}
	if declared < len(j.Packages)/2 {
		t.Errorf("only %d of %d packages have a declared licence", declared, len(j.Packages))
	}
	t.Logf("SBOM of %s: %d packages, %d with a declared licence, %d bytes", dir, len(j.Packages), declared, len(data))
}

// checkSBOMCommand: `builder sbom` prints the document as it is, and
// converted to CycloneDX, which cyclonedx-go decodes with the same
// packages and files.
func checkSBOMCommand(t *testing.T, dir string, j image.ImageJSON, data []byte) {
	t.Helper()
	stdout, stderr, status := builderExec(t, nil, "sbom", dir)
	if status != 0 || stdout != string(data) {
		t.Errorf("builder sbom: exit %d, printed %d bytes of the document's %d\n%s", status, len(stdout), len(data), stderr)
	}
	stdout, stderr, status = builderExec(t, nil, "sbom", dir, "--format", "cyclonedx-json")
	if status != 0 {
		t.Fatalf("builder sbom --format cyclonedx-json: exit %d\n%s", status, stderr)
	}
	if _, err := sbomtest.CheckCycloneDX([]byte(stdout), j); err != nil {
		t.Errorf("builder sbom --format cyclonedx-json: %v", err)
	}
}

// TestBuildSBOM: every build writes the SBOM, and one that reuses its
// packed rootfs from the cache (no rootfs to read) writes the very same
// bytes for one SOURCE_DATE_EPOCH.
func TestBuildSBOM(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	tmp := t.TempDir()
	build := func(out string, epoch ...string) []byte {
		t.Helper()
		if epoch == nil {
			epoch = []string{"1767225600"}
		}
		stdout, stderr, status := builderExec(t, nil, "build", "recipes/busybox.hcl", "--type", "split", "-o", out,
			"--cache-dir", filepath.Join(tmp, "cache"), "--source-date-epoch", epoch[0])
		if status != 0 {
			t.Fatalf("build: exit %d\n%s", status, stderr)
		}
		checkSBOM(t, out)
		data, err := os.ReadFile(filepath.Join(out, image.SBOMName))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "second") && !strings.Contains(stdout, "pack hit") {
			t.Errorf("the second build did not reuse the packed rootfs:\n%s", stdout)
		}
		return data
	}
	first := build(filepath.Join(tmp, "first"))
	second := build(filepath.Join(tmp, "second"))
	if !bytes.Equal(first, second) {
		t.Errorf("the SBOM of a build reusing the packed rootfs differs:\n%s\n---\n%s", first, second)
	}
	if stdout, stderr, status := builderExec(t, nil, "diff", filepath.Join(tmp, "first"), filepath.Join(tmp, "second")); status != 0 || !strings.HasPrefix(stdout, "same image: ") {
		t.Errorf("builder diff of the two builds: exit %d\n%s%s", status, stdout, stderr)
	}
	// Another SOURCE_DATE_EPOCH: no package changed (busybox has no
	// dpkg), every path's mtime did, and diff reads both squashfs.
	build(filepath.Join(tmp, "later"), "1767312000")
	stdout, stderr, status := builderExec(t, nil, "diff", filepath.Join(tmp, "first"), filepath.Join(tmp, "later"), "--max-paths", "3")
	if status != 1 || !strings.Contains(stdout, "packages: 0 added, 0 removed, 0 upgraded, 0 downgraded\n") ||
		!strings.Contains(stdout, "paths differ, 0 accounted for by the package changes; beyond them:\nchanged /: mtime\n") {
		t.Errorf("builder diff of builds with another epoch: exit %d\n%s%s", status, stdout, stderr)
	}

	// A changed document is refused, naming it; an unknown format is
	// a usage error.
	out := filepath.Join(tmp, "first")
	if _, stderr, status := builderExec(t, nil, "sbom", out, "--format", "xml"); status != exitUsage || !strings.Contains(stderr, `--format "xml"`) {
		t.Errorf("--format xml: exit %d\n%s", status, stderr)
	}
	path := filepath.Join(out, image.SBOMName)
	if err := os.WriteFile(path, bytes.Replace(first, []byte("SPDX-2.3"), []byte("SPDX-2.4"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, status := builderExec(t, nil, "sbom", out); status != exitFailure || stdout != "" || !strings.Contains(stderr, path+" has changed since the build") {
		t.Errorf("a changed SBOM: exit %d, stdout %q\n%s", status, stdout, stderr)
	}
}
