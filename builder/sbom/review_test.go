package sbom_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/sbom"
	"github.com/builder-images/builder/builder/treediff"
	"github.com/builder-images/builder/internal/sbomtest"
)

// TestManyLicences: a package whose copyright file names hundreds of
// licences (as browsers' and TeX's do) gets them all, and the build's
// SBOM is written and valid: the expression ReadFacts makes is one
// Facts.Check accepts.
func TestManyLicences(t *testing.T) {
	root := rootfs(t)
	var b strings.Builder
	b.WriteString("Format: https://www.example.org/doc/packaging-manuals/copyright-format/1.0/\n\n")
	for i := range 300 {
		fmt.Fprintf(&b, "Files: third_party/lib%d/*\nCopyright: someone\nLicense: lib%d-licence\n\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/share/doc/libc6/copyright"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	j, facts := imageOf(t, root)
	expr := facts.Licenses["libc6"]
	if n := strings.Count(expr, "LicenseRef-lib"); n != 300 {
		t.Fatalf("libc6's licence names %d of the 300 licences: %.200q", n, expr)
	}
	data, err := sbom.SPDX(j, facts)
	if err != nil {
		t.Fatalf("no SBOM: %.300v", err)
	}
	if _, err := sbomtest.CheckSPDX(data, j); err != nil {
		t.Fatal(err)
	}
}

// TestHostileCopyright: a copyright file made to cost (8 MiB of
// paragraphs, each naming another licence, all of which convert to one
// LicenseRef) takes well under a second and says NOASSERTION, as does
// one naming more licences than an expression may hold.
func TestHostileCopyright(t *testing.T) {
	var b strings.Builder
	b.WriteString("Format: https://www.example.org/doc/packaging-manuals/copyright-format/1.0/\n\n")
	for i := 0; b.Len() < 8<<20-100; i++ {
		punct := strings.Map(func(r rune) rune { return rune("!#$%&*;<=>"[r-'0']) }, fmt.Sprint(i))
		fmt.Fprintf(&b, "Files: *\nLicense: x%s\n\n", punct)
	}
	start := time.Now()
	if got := sbom.CopyrightLicense(b.String()); got != "" {
		t.Errorf("the hostile file's licence is %.100q, want none", got)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("reading the hostile file took %s", took)
	}
	b.Reset()
	b.WriteString("Format: https://www.example.org/doc/packaging-manuals/copyright-format/1.0/\n\n")
	for i := range 3000 {
		fmt.Fprintf(&b, "Files: f%d\nLicense: a-rather-long-licence-name-number-%d\n\n", i, i)
	}
	expr := sbom.CopyrightLicense(b.String())
	if expr != "" {
		t.Errorf("a %d-byte expression from 3000 licences, want none", len(expr))
	}
}

// TestPURL: the purl is the specification's canonical form, which
// other tools write and match as strings: "+" percent-encoded, the
// epoch's colon and "~" as they are.
func TestPURL(t *testing.T) {
	for _, c := range []struct {
		p    image.Package
		want string
	}{
		{image.Package{Name: "openssh-server", Version: "1:9.2p1-2+deb12u3", Architecture: "amd64"}, "pkg:deb/debian/openssh-server@1:9.2p1-2%2Bdeb12u3?arch=amd64"},
		{image.Package{Name: "libstdc++6", Version: "12.2.0-14+b1", Architecture: "amd64"}, "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14%2Bb1?arch=amd64"},
		{image.Package{Name: "base-files", Version: "12.4~rc1", Architecture: "all"}, "pkg:deb/debian/base-files@12.4~rc1?arch=all"},
		{image.Package{Name: "odd", Version: "1.0 /?#@", Architecture: "amd64"}, "pkg:deb/debian/odd@1.0%20%2F%3F%23%40?arch=amd64"},
	} {
		if got := sbom.PURL("debian", c.p); got != c.want {
			t.Errorf("PURL(%v) = %s, want %s", c.p, got, c.want)
		}
	}
}

// TestHugeCopyright: a copyright file larger than any real one (here
// sparse, 9 GiB) is read as missing, as a FIFO is: NOASSERTION, and the
// build goes on.
func TestHugeCopyright(t *testing.T) {
	root := rootfs(t)
	if err := os.Truncate(filepath.Join(root, "usr/share/doc/libc6/copyright"), 9<<30); err != nil {
		t.Fatal(err)
	}
	pkgs, err := image.ReadDpkgStatus(root)
	if err != nil {
		t.Fatal(err)
	}
	facts, err := sbom.ReadFacts(root, pkgs)
	if err != nil {
		t.Fatalf("a huge copyright file fails the build: %v", err)
	}
	if l, ok := facts.Licenses["libc6"]; ok {
		t.Errorf("libc6's licence is %q, want none", l)
	}
	if facts.Licenses["openssh-server"] == "" {
		t.Error("the other packages lost their licences")
	}
}

// TestAccountedHostileList: a changed package's dpkg list naming a
// million paths the trees do not hold leaves nothing behind: what
// Accounted keeps is bounded by the trees, not by the lists.
func TestAccountedHostileList(t *testing.T) {
	var list strings.Builder
	for i := range 1_000_000 {
		fmt.Fprintf(&list, "/nowhere/%d\n", i)
	}
	list.WriteString("/usr/bin/foo\n")
	nodes := map[string]*treediff.Node{"/": {}, "/usr": {}, "/usr/bin": {}, "/usr/bin/foo": {}, "/etc": {}, "/etc/build-time": {}}
	a := &treediff.Tree{Nodes: nodes, Files: map[string][]byte{"/var/lib/dpkg/info/foo.list": []byte(list.String())}}
	b := &treediff.Tree{Nodes: nodes}
	list.Reset()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	accounted := sbom.Accounted([]sbom.Change{{Kind: sbom.PackageUpgraded, Name: "foo", Architecture: "amd64", From: "1", To: "2"}}, a, b)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if !accounted("/usr/bin/foo") || accounted("/etc/build-time") || !accounted("/var/lib/dpkg/info/foo.list") {
		t.Error("the paths accounted for are not foo's")
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Errorf("Accounted holds %d MiB for a list of paths the trees do not hold", grew>>20)
	}
	runtime.KeepAlive(accounted)
}
