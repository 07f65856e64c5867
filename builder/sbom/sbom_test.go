package sbom_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/sbom"
	"github.com/builder-images/builder/internal/sbomtest"
)

const status = `Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u7

Package: libc6
Status: install ok installed
Architecture: i386
Source: glibc
Version: 2.36-9+deb12u7

Package: openssh-server
Status: install ok installed
Architecture: amd64
Source: openssh
Version: 1:9.2p1-2+deb12u3

Package: libstdc++6
Status: install ok installed
Architecture: amd64
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14+b1

Package: openssh-client
Status: install ok installed
Architecture: amd64
Source: openssh
Version: 1:9.2p1-2+deb12u3

Package: fifo
Status: install ok installed
Architecture: all
Version: 1.0

Package: oldstyle
Status: install ok installed
Architecture: all
Version: 1.0

Package: escaper
Status: install ok installed
Architecture: all
Version: 1.0

Package: removed
Status: deinstall ok config-files
Architecture: all
Version: 1.0
`

const glibcCopyright = `Format: https://www.example.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: GNU C Library

Files: *
Copyright: 1991-2023 Free Software Foundation, Inc.
License: LGPL-2.1+
 This library is free software; you can redistribute it.

Files: debian/*
License: GPL-2+

Files: crypt/*
License: public-domain

License: LGPL-2.1+
 The text of the licence.
`

// rootfs makes an image root with a dpkg status, os-release and
// copyright files: machine-readable ones, one that is not, a shared
// doc directory (a link, as multi-arch packages have) and one whose
// copyright is a link out of the image.
func rootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("var/lib/dpkg/status", status)
	write("usr/lib/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n")
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../usr/lib/os-release", filepath.Join(root, "etc/os-release")); err != nil {
		t.Fatal(err)
	}
	write("usr/share/doc/libc6/copyright", glibcCopyright)
	write("usr/share/doc/openssh-server/copyright", "Format: http://www.example.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: BSD-2-clause and Expat, or GPL-2+ with OpenSSL exception\n")
	if err := os.Symlink("libc6", filepath.Join(root, "usr/share/doc/libstdc++6")); err != nil {
		t.Fatal(err)
	}
	write("usr/share/doc/oldstyle/copyright", "This package was debianized by someone.\nIt is GPL.\n")
	// Not regular files: read as missing, neither opened nor failing.
	if err := os.MkdirAll(filepath.Join(root, "usr/share/doc/openssh-client/copyright"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "usr/share/doc/fifo"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "usr/share/doc/fifo/copyright"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An absolute link resolves inside the image, where there is no
	// such file: no licence, and the host's file is never read.
	host := filepath.Join(t.TempDir(), "copyright")
	if err := os.WriteFile(host, []byte("Format: copyright-format/1.0\n\nFiles: *\nLicense: host-secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "usr/share/doc/escaper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(host, filepath.Join(root, "usr/share/doc/escaper/copyright")); err != nil {
		t.Fatal(err)
	}
	return root
}

func imageOf(t *testing.T, root string) (image.ImageJSON, sbom.Facts) {
	t.Helper()
	pkgs, err := image.ReadDpkgStatus(root)
	if err != nil {
		t.Fatal(err)
	}
	facts, err := sbom.ReadFacts(root, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	j := image.ImageJSON{
		Name: "debian", Fingerprint: strings.Repeat("ab", 32), Type: image.TypeSplit, Architecture: "x86_64",
		Properties: map[string]string{"description": "Debian 12", "serial": "20260101_0000"},
		Created:    time.Unix(1767225600, 0).UTC(),
		Files: []image.FileInfo{
			{Name: "lxd.tar.xz", Role: image.RoleMetadata, SHA256: strings.Repeat("01", 32), Size: 100},
			{Name: "rootfs.squashfs", Role: image.RoleRootfs, SHA256: strings.Repeat("02", 32), Size: 1000},
		},
		Packages: pkgs,
	}
	return j, facts
}

func TestReadFacts(t *testing.T) {
	_, facts := imageOf(t, rootfs(t))
	want := sbom.Facts{
		Version: sbom.FactsVersion,
		Distro:  sbom.Distro{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux 12 (bookworm)"},
		Licenses: map[string]string{
			"libc6":          "GPL-2.0-or-later AND LGPL-2.1-or-later AND LicenseRef-public-domain",
			"libstdc++6":     "GPL-2.0-or-later AND LGPL-2.1-or-later AND LicenseRef-public-domain",
			"openssh-server": "(BSD-2-Clause AND MIT) OR LicenseRef-GPL-2.0-or-later-with-OpenSSL-exception",
		},
	}
	got, _ := json.Marshal(facts)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(got, wantJSON) {
		t.Errorf("facts\n%s\nwant\n%s", got, wantJSON)
	}
	if err := facts.Check(); err != nil {
		t.Error(err)
	}
	// Facts the cache kept from an older way of reading them (no
	// version, or another) are not reused: the rootfs is read again.
	if !facts.Current() {
		t.Error("facts ReadFacts just read are not current")
	}
	var old sbom.Facts
	if err := json.Unmarshal([]byte(`{"distro":{"id":"debian"}}`), &old); err != nil {
		t.Fatal(err)
	}
	older := facts
	older.Version = sbom.FactsVersion - 1
	var none *sbom.Facts
	if old.Current() || older.Current() || none.Current() {
		t.Error("facts of no version, another version, or none count as current")
	}
}

// TestSPDX validates the document with the SPDX libraries and checks
// that one image gives the same bytes every time, and another image
// another namespace.
func TestSPDX(t *testing.T) {
	j, facts := imageOf(t, rootfs(t))
	data, err := sbom.SPDX(j, facts)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := sbomtest.CheckSPDX(data, j)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if len(doc.Packages) != 1+2+8 {
		t.Errorf("%d packages, want the image, its 2 files and 8 installed packages", len(doc.Packages))
	}
	for _, want := range []string{
		`"referenceLocator": "pkg:deb/debian/openssh-server@1:9.2p1-2%2Bdeb12u3?arch=amd64"`,
		`"sourceInfo": "built package from: gcc-12 12.2.0-14"`,
		`"SPDXID": "SPDXRef-Package-deb-libstdc-2B-2B6-amd64"`,
		`"created": "2026-01-01T00:00:00Z"`,
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("the document has no %s", want)
		}
	}
	if strings.Contains(string(data), "host-secret") {
		t.Error("the document has the licence of a file outside the image")
	}
	again, err := sbom.SPDX(j, facts)
	if err != nil || !bytes.Equal(again, data) {
		t.Errorf("a second document of the same image differs (%v)", err)
	}
	j.Fingerprint = strings.Repeat("cd", 32)
	other, err := sbom.SPDX(j, facts)
	if err != nil || sbom.Namespace(j.Fingerprint) == sbom.Namespace(strings.Repeat("ab", 32)) || bytes.Equal(other, data) {
		t.Errorf("another image has the same namespace (%v)", err)
	}
	// The image a build started from is named.
	j.Base = &image.Base{Kind: "image", Source: "lxd", Reference: "debian/12", Fingerprint: strings.Repeat("ef", 32)}
	j.BaseFingerprint = j.Base.Fingerprint
	based, err := sbom.SPDX(j, facts)
	if err != nil || !strings.Contains(string(based), "built on base image "+j.BaseFingerprint+" from lxd (debian/12)") {
		t.Errorf("the base is not named (%v)", err)
	}
	if _, err := sbomtest.CheckSPDX(based, j); err != nil {
		t.Error(err)
	}
	// Packages missing from the document, or one too many, are seen.
	j.Packages = j.Packages[1:]
	if _, err := sbomtest.CheckSPDX(data, j); err == nil || !strings.Contains(err.Error(), "extra [escaper=1.0 (all)]") {
		t.Errorf("a package the image does not have: %v", err)
	}
}

// TestFactsCheck refuses facts a cache entry could carry but ReadFacts
// never produces.
func TestFactsCheck(t *testing.T) {
	for _, f := range []sbom.Facts{
		{Distro: sbom.Distro{ID: "Debian GNU"}},
		{Distro: sbom.Distro{Name: "a\x1b[2Jb"}},
		{Licenses: map[string]string{"../x": "MIT"}},
		{Licenses: map[string]string{"a": "MIT\", \"x\": \"y"}},
		{Licenses: map[string]string{"a": "NOT-A-LICENCE"}},
	} {
		if err := f.Check(); err == nil {
			t.Errorf("%+v passes", f)
		}
		if _, err := sbom.SPDX(image.ImageJSON{Created: time.Unix(1, 0)}, f); err == nil {
			t.Errorf("an SBOM from %+v", f)
		}
	}
}

func TestExpression(t *testing.T) {
	for name, want := range map[string]string{
		"GPL-2+":                        "GPL-2.0-or-later",
		"Expat":                         "MIT",
		"BSD-3-clause":                  "BSD-3-Clause",
		"GPL-2+ or Artistic":            "GPL-2.0-or-later OR Artistic-1.0-Perl",
		"public-domain":                 "LicenseRef-public-domain",
		"GPL-2+ with OpenSSL exception": "LicenseRef-GPL-2.0-or-later-with-OpenSSL-exception",
		"LGPL-2.1+, and GPL-3":          "LGPL-2.1-or-later AND GPL-3.0-only",
		"Apache-2.0":                    "Apache-2.0",
		"LGPL-2":                        "LGPL-2.0-only",
		"GFDL-1.3+":                     "GFDL-1.3-or-later",
		"Perl and MIT":                  "(Artistic-1.0-Perl OR GPL-1.0-or-later) AND MIT",
		"GPL":                           "LicenseRef-GPL",
		"MIT or":                        "LicenseRef-MIT-or",
		"and MIT":                       "LicenseRef-and-MIT",
		"Zlib/libpng":                   "LicenseRef-Zlib-libpng",
		"MIT with":                      "LicenseRef-MIT-with",
	} {
		if got := sbom.Expression(name); got != want {
			t.Errorf("Expression(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestCopyrightLicense(t *testing.T) {
	for text, want := range map[string]string{
		glibcCopyright: "GPL-2.0-or-later AND LGPL-2.1-or-later AND LicenseRef-public-domain",
		"Format: foo\n\nFiles: *\nLicense: MIT\n":                                                 "",
		"Upstream-Name: x\n\nFiles: *\nLicense: MIT\n":                                            "",
		"Format: https://x/copyright-format/1.0/\nLicense: GPL-3+\n\nFiles: *\nLicense: GPL-3+\n": "GPL-3.0-or-later",
		"Format: https://x/copyright-format/1.0/\n\nLicense: MIT\n Only the text.\n":              "",
		"": "",
	} {
		if got := sbom.CopyrightLicense(text); got != want {
			t.Errorf("CopyrightLicense(%q) = %q, want %q", text, got, want)
		}
	}
}

// TestCycloneDX converts the document and checks the result with
// cyclonedx-go: the same packages, files and licences, the same bytes
// every time.
func TestCycloneDX(t *testing.T) {
	j, facts := imageOf(t, rootfs(t))
	data, err := sbom.SPDX(j, facts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := sbom.CycloneDX(data, j)
	if err != nil {
		t.Fatal(err)
	}
	bom, err := sbomtest.CheckCycloneDX(out, j)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if bom.SerialNumber != sbom.Namespace(j.Fingerprint) || bom.Metadata.Timestamp != "2026-01-01T00:00:00Z" {
		t.Errorf("serial %s, timestamp %s", bom.SerialNumber, bom.Metadata.Timestamp)
	}
	if !strings.Contains(string(out), `"expression": "(BSD-2-Clause AND MIT) OR LicenseRef-GPL-2.0-or-later-with-OpenSSL-exception"`) {
		t.Errorf("openssh-server's licence is not in the BOM:\n%s", out)
	}
	if again, err := sbom.CycloneDX(data, j); err != nil || !bytes.Equal(again, out) {
		t.Errorf("a second conversion differs (%v)", err)
	}
	if _, err := sbom.CycloneDX([]byte(`{"spdxVersion": "SPDX-2.2"}`), j); err == nil {
		t.Error("an SPDX 2.2 document converted")
	}
}

// TestReadDir reads an output directory's SBOM only while it has the
// sha256 image.json records.
func TestReadDir(t *testing.T) {
	dir := t.TempDir()
	j, facts := imageOf(t, rootfs(t))
	if _, _, err := sbom.ReadDir(dir); err == nil {
		t.Error("a directory without image.json")
	}
	if err := image.WriteImageJSON(dir, j); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sbom.ReadDir(dir); err == nil || !strings.Contains(err.Error(), "records no SBOM") {
		t.Errorf("image.json without an SBOM: %v", err)
	}
	data, err := sbom.SPDX(j, facts)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	j.SBOM = &image.Document{Name: image.SBOMName, Format: sbom.Format, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}
	if err := image.WriteImageJSON(dir, j); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, image.SBOMName)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, got, err := sbom.ReadDir(dir); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadDir: %v", err)
	}
	data[100] ^= 1
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sbom.ReadDir(dir); err == nil || !strings.Contains(err.Error(), path+" has changed since the build") {
		t.Errorf("a changed SBOM: %v", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", path); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sbom.ReadDir(dir); err == nil {
		t.Error("an SBOM that is a symlink was read")
	}
}
