package sbom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/builder-images/builder/builder/image"
)

// Format is the SBOM's format as image.json records it.
const Format = "spdx-2.3+json"

// Document is an SPDX 2.3 document in its JSON form: the fields builder
// writes, in the order it writes them.
type Document struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      CreationInfo       `json:"creationInfo"`
	Packages          []Package          `json:"packages"`
	ExtractedLicenses []ExtractedLicense `json:"hasExtractedLicensingInfos,omitempty"`
	Relationships     []Relationship     `json:"relationships"`
}

// CreationInfo says when and by what the document was made.
type CreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
	Comment  string   `json:"comment,omitempty"`
}

// Package is an SPDX package: the image, one of its files, or one
// installed package.
type Package struct {
	Name             string        `json:"name"`
	SPDXID           string        `json:"SPDXID"`
	VersionInfo      string        `json:"versionInfo,omitempty"`
	PackageFileName  string        `json:"packageFileName,omitempty"`
	DownloadLocation string        `json:"downloadLocation"`
	FilesAnalyzed    bool          `json:"filesAnalyzed"`
	Checksums        []Checksum    `json:"checksums,omitempty"`
	SourceInfo       string        `json:"sourceInfo,omitempty"`
	LicenseConcluded string        `json:"licenseConcluded"`
	LicenseDeclared  string        `json:"licenseDeclared"`
	CopyrightText    string        `json:"copyrightText"`
	Summary          string        `json:"summary,omitempty"`
	Comment          string        `json:"comment,omitempty"`
	ExternalRefs     []ExternalRef `json:"externalRefs,omitempty"`
	PrimaryPurpose   string        `json:"primaryPackagePurpose,omitempty"`
}

// Checksum is one digest of a package's file.
type Checksum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

// ExternalRef is a package's identity elsewhere: its purl.
type ExternalRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

// ExtractedLicense declares a LicenseRef the document uses.
type ExtractedLicense struct {
	LicenseID     string `json:"licenseId"`
	ExtractedText string `json:"extractedText"`
	Name          string `json:"name,omitempty"`
}

// Relationship is one edge between two of the document's elements.
type Relationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

// SPDX identifiers of the document's fixed elements, and the prefixes
// of the others.
const (
	DocumentID  = "SPDXRef-DOCUMENT"
	ImageID     = "SPDXRef-Image"
	filePrefix  = "SPDXRef-ImageFile-"
	debPrefix   = "SPDXRef-Package-deb-"
	noAssertion = "NOASSERTION"
)

// Tool is the creator the document names.
const Tool = "Tool: builder"

// SPDX returns the SPDX document of the image j describes, with f read
// from its rootfs: the same bytes for the same image.json and Facts.
// Its creation time is the image's (SOURCE_DATE_EPOCH when set) and its
// namespace is derived from the fingerprint, so no clock or random
// number enters it.
func SPDX(j image.ImageJSON, f Facts) ([]byte, error) {
	if err := f.Check(); err != nil {
		return nil, fmt.Errorf("writing the SBOM: %w", err)
	}
	doc, err := build(j, f)
	if err != nil {
		return nil, fmt.Errorf("writing the SBOM: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("writing the SBOM: %w", err)
	}
	return buf.Bytes(), nil
}

func build(j image.ImageJSON, f Facts) (*Document, error) {
	name := j.Name
	if name == "" {
		name = "image"
	}
	created := j.Created.UTC()
	if created.IsZero() {
		return nil, fmt.Errorf("the image has no creation time")
	}
	doc := &Document{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: DocumentID,
		Name:              name + "-" + image.Short(j.Fingerprint),
		DocumentNamespace: Namespace(j.Fingerprint),
		CreationInfo: CreationInfo{Created: created.Format(time.RFC3339), Creators: []string{Tool},
			Comment: "The image with LXD fingerprint " + j.Fingerprint + ", as builder wrote it."},
	}
	purpose := "CONTAINER"
	if j.Type == image.TypeVM {
		purpose = "OPERATING-SYSTEM"
	}
	img := Package{Name: name, SPDXID: ImageID, VersionInfo: j.Properties["serial"], DownloadLocation: noAssertion,
		LicenseConcluded: noAssertion, LicenseDeclared: noAssertion, CopyrightText: noAssertion,
		Summary: j.Properties["description"], PrimaryPurpose: purpose,
		Comment: fmt.Sprintf("LXD fingerprint %s; architecture %s; image type %s", j.Fingerprint, j.Architecture, j.Type)}
	if b := j.Base; b != nil {
		// The image a build started from (bootstrap "image" or
		// "oci"): its packages are among the image's own below.
		img.Comment += fmt.Sprintf("; built on base %s %s from %s", b.Kind, b.Fingerprint, b.Source)
		if b.Reference != "" {
			img.Comment += " (" + b.Reference + ")"
		}
	}
	if j.Unified() {
		img.Checksums = []Checksum{{Algorithm: "SHA256", Value: j.Fingerprint}}
	}
	doc.Packages = append(doc.Packages, img)
	doc.Relationships = append(doc.Relationships, Relationship{Element: DocumentID, Type: "DESCRIBES", Related: ImageID})

	ids := map[string]bool{DocumentID: true, ImageID: true}
	for _, file := range j.Files {
		p := Package{Name: file.Name, SPDXID: uniqueID(ids, filePrefix+file.Name), PackageFileName: file.Name,
			DownloadLocation: noAssertion, Checksums: []Checksum{{Algorithm: "SHA256", Value: file.SHA256}},
			LicenseConcluded: noAssertion, LicenseDeclared: noAssertion, CopyrightText: noAssertion,
			Comment: fmt.Sprintf("the image's %s file, %d bytes", file.Role, file.Size), PrimaryPurpose: "FILE"}
		if strings.Contains(file.Name, ".tar") {
			p.PrimaryPurpose = "ARCHIVE"
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, Relationship{Element: ImageID, Type: "CONTAINS", Related: p.SPDXID})
	}

	distro := f.Distro.ID
	if distro == "" {
		distro = "debian"
	}
	pkgs := slices.Clone(j.Packages)
	slices.SortFunc(pkgs, comparePackages)
	refs := map[string]bool{}
	for _, pkg := range pkgs {
		p := Package{Name: pkg.Name, SPDXID: uniqueID(ids, debPrefix+pkg.Name+"-"+pkg.Architecture), VersionInfo: pkg.Version,
			DownloadLocation: noAssertion, LicenseConcluded: noAssertion, LicenseDeclared: noAssertion, CopyrightText: noAssertion,
			SourceInfo:   fmt.Sprintf("built package from: %s %s", pkg.SourceName(), pkg.SourceVer()),
			Comment:      "architecture " + pkg.Architecture,
			ExternalRefs: []ExternalRef{{Category: "PACKAGE-MANAGER", Type: "purl", Locator: PURL(distro, pkg)}},
		}
		if expr, ok := f.Licenses[pkg.Name]; ok {
			p.LicenseDeclared = expr
			for _, ref := range licenseRefs(expr) {
				refs[ref] = true
			}
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, Relationship{Element: ImageID, Type: "CONTAINS", Related: p.SPDXID})
	}
	for _, ref := range slices.Sorted(func(yield func(string) bool) {
		for r := range refs {
			if !yield(r) {
				return
			}
		}
	}) {
		doc.ExtractedLicenses = append(doc.ExtractedLicenses, ExtractedLicense{LicenseID: ref, Name: strings.TrimPrefix(ref, "LicenseRef-"),
			ExtractedText: "A licence named " + strings.TrimPrefix(ref, "LicenseRef-") + " in the Debian copyright files (/usr/share/doc/PACKAGE/copyright) of the packages that declare it, which hold its text."})
	}
	return doc, nil
}

// comparePackages orders packages as image.json does.
func comparePackages(a, b image.Package) int {
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	if c := strings.Compare(a.Architecture, b.Architecture); c != 0 {
		return c
	}
	return strings.Compare(a.Version, b.Version)
}

// Namespace is the document's namespace: a name-based (SHA-1) UUID of
// the fingerprint, so one image always has the same one and two images
// never do.
func Namespace(fingerprint string) string {
	return "urn:uuid:" + uuid.NewSHA1(uuid.NameSpaceOID, []byte("builder image "+fingerprint)).String()
}

var idUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]`)

// uniqueID makes an SPDX identifier of s: each character an idstring
// may not hold becomes "-" and its code ("+" → "-2B"), and a number is
// added when that collides with an identifier already taken.
func uniqueID(taken map[string]bool, s string) string {
	id := idUnsafe.ReplaceAllStringFunc(s, func(c string) string { return fmt.Sprintf("-%X", c) })
	base := id
	for n := 2; taken[id]; n++ {
		id = fmt.Sprintf("%s-%d", base, n)
	}
	taken[id] = true
	return id
}

// PURL is a Debian package's package URL:
// pkg:deb/DISTRO/NAME@VERSION?arch=ARCH.
func PURL(distro string, p image.Package) string {
	return "pkg:deb/" + purlEscape(distro) + "/" + purlEscape(p.Name) + "@" + purlEscape(p.Version) + "?arch=" + purlEscape(p.Architecture)
}

// purlEscape percent-encodes everything but letters, digits, ".-_~"
// and ":", as the purl specification's canonical form does: "+" is
// %2B, a version's epoch colon stays a colon (the specification says a
// colon is never encoded), so the purl is the string other tools write
// and match (pkg:deb/debian/openssh-server@1:9.2p1-2%2Bdeb12u3).
func purlEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte(".-_~:", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// licenseRefs are the LicenseRef identifiers in an expression.
func licenseRefs(expr string) []string {
	var refs []string
	for _, w := range strings.FieldsFunc(expr, func(r rune) bool { return r == ' ' || r == '(' || r == ')' }) {
		if strings.HasPrefix(w, "LicenseRef-") {
			refs = append(refs, w)
		}
	}
	return refs
}
