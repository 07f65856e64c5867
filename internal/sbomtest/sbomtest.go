// Package sbomtest checks an image's SBOM for tests with maintained
// libraries rather than string matches: the SPDX document is parsed and
// validated by spdx/tools-golang, the CycloneDX one decoded by
// cyclonedx-go, licence expressions validated by github/go-spdx, and
// the packages of either must be exactly image.json's.
package sbomtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/github/go-spdx/v2/spdxexp"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdxlib"

	"github.com/builder-images/builder/builder/image"
)

// CheckDir checks the SBOM of the output directory dir: image.json
// records it, SHA256SUMS lists it, its bytes have the recorded sha256,
// and CheckSPDX accepts it.
func CheckDir(dir string) error {
	j, err := image.ReadImageJSON(dir)
	if err != nil {
		return err
	}
	if j.SBOM == nil {
		return fmt.Errorf("%s records no SBOM", filepath.Join(dir, image.ImageJSONName))
	}
	data, err := os.ReadFile(filepath.Join(dir, j.SBOM.Name))
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != j.SBOM.SHA256 || int64(len(data)) != j.SBOM.Size {
		return fmt.Errorf("%s has sha256 %s (%d bytes), image.json says %s (%d bytes)", j.SBOM.Name, got, len(data), j.SBOM.SHA256, j.SBOM.Size)
	}
	sums, err := os.ReadFile(filepath.Join(dir, image.SHA256SUMSName))
	if err != nil {
		return err
	}
	if !bytes.Contains(sums, []byte(j.SBOM.SHA256+"  "+j.SBOM.Name+"\n")) {
		return fmt.Errorf("SHA256SUMS does not list %s with its sha256:\n%s", j.SBOM.Name, sums)
	}
	_, err = CheckSPDX(data, j)
	return err
}

// Package is one installed package as an SBOM states it.
type Package struct{ Name, Version, Architecture string }

func (p Package) String() string { return p.Name + "=" + p.Version + " (" + p.Architecture + ")" }

var idRe = regexp.MustCompile(`^SPDXRef-[A-Za-z0-9.-]+$`)

// CheckSPDX parses and validates an SPDX document and checks it against
// j: SPDX 2.3 with its mandatory fields, unique and well-formed
// identifiers, relationships between elements that exist, valid licence
// expressions with every LicenseRef declared, the image's files with
// their sha256, and one package per installed package with its purl,
// the set equal to j's. It returns the parsed document.
func CheckSPDX(data []byte, j image.ImageJSON) (*spdx.Document, error) {
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parsing the SPDX document: %w", err)
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		return nil, fmt.Errorf("validating the SPDX document: %w", err)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if doc.SPDXVersion != "SPDX-2.3" || doc.DataLicense != "CC0-1.0" || doc.SPDXIdentifier != "DOCUMENT" || doc.DocumentName == "" {
		bad("document header %q %q %q %q", doc.SPDXVersion, doc.DataLicense, doc.SPDXIdentifier, doc.DocumentName)
	}
	if u, err := url.Parse(doc.DocumentNamespace); err != nil || u.Scheme == "" || strings.Contains(doc.DocumentNamespace, "#") {
		bad("documentNamespace %q is not an absolute URI without #", doc.DocumentNamespace)
	}
	if doc.CreationInfo == nil || len(doc.CreationInfo.Creators) == 0 {
		bad("no creationInfo or no creators")
	} else if created, err := time.Parse(time.RFC3339, doc.CreationInfo.Created); err != nil || !created.Equal(j.Created) || !strings.HasSuffix(doc.CreationInfo.Created, "Z") {
		bad("created %q is not image.json's %s in UTC", doc.CreationInfo.Created, j.Created)
	}
	declared := map[string]bool{}
	for _, l := range doc.OtherLicenses {
		if !strings.HasPrefix(l.LicenseIdentifier, "LicenseRef-") || l.ExtractedText == "" {
			bad("extracted licence %q has no LicenseRef- identifier or no text", l.LicenseIdentifier)
		}
		declared[l.LicenseIdentifier] = true
	}
	ids := map[string]bool{}
	var got []Package
	files := map[string]string{}
	for _, p := range doc.Packages {
		id := "SPDXRef-" + string(p.PackageSPDXIdentifier)
		if !idRe.MatchString(id) || ids[id] {
			bad("package %q: identifier %q malformed or taken", p.PackageName, id)
		}
		ids[id] = true
		if p.PackageName == "" || p.PackageDownloadLocation == "" {
			bad("package %s has no name or downloadLocation", id)
		}
		for _, expr := range []string{p.PackageLicenseConcluded, p.PackageLicenseDeclared} {
			if err := checkLicense(expr, declared); err != nil {
				bad("package %s: %v", id, err)
			}
		}
		for _, c := range p.PackageChecksums {
			if c.Algorithm == "SHA256" && p.PackageFileName != "" {
				files[p.PackageFileName] = c.Value
			}
		}
		for _, ref := range p.PackageExternalReferences {
			if ref.RefType != "purl" {
				continue
			}
			pp, err := parsePURL(ref.Locator)
			if err != nil {
				bad("package %s: %v", id, err)
				continue
			}
			if pp.Name != p.PackageName || pp.Version != p.PackageVersion {
				bad("package %s: purl %s names %s, the package is %s %s", id, ref.Locator, pp, p.PackageName, p.PackageVersion)
			}
			got = append(got, pp)
		}
	}
	describes := false
	for _, r := range doc.Relationships {
		if r.Relationship == "DESCRIBES" && r.RefA.ElementRefID == "DOCUMENT" {
			describes = true
		}
	}
	if !describes {
		bad("the document DESCRIBES nothing")
	}
	for _, f := range j.Files {
		if files[f.Name] != f.SHA256 {
			bad("image file %s: the SBOM says sha256 %q, image.json %s", f.Name, files[f.Name], f.SHA256)
		}
	}
	if err := SamePackages(got, j.Packages); err != nil {
		errs = append(errs, err)
	}
	return doc, errors.Join(errs...)
}

// SamePackages reports how got differs from image.json's packages.
func SamePackages(got []Package, want []image.Package) error {
	have := map[Package]int{}
	for _, p := range got {
		have[p]++
	}
	var missing, extra []string
	for _, p := range want {
		k := Package{p.Name, p.Version, p.Architecture}
		if have[k] == 0 {
			missing = append(missing, k.String())
			continue
		}
		have[k]--
	}
	for k, n := range have {
		for range n {
			extra = append(extra, k.String())
		}
	}
	if len(missing)+len(extra) == 0 {
		return nil
	}
	slices.Sort(extra)
	return fmt.Errorf("the SBOM's packages are not image.json's: missing %v, extra %v", missing, extra)
}

// checkLicense accepts NOASSERTION, NONE, or a valid SPDX expression
// whose LicenseRefs the document declares (when declared is not nil:
// CycloneDX declares none).
func checkLicense(expr string, declared map[string]bool) error {
	switch expr {
	case "", "NOASSERTION", "NONE":
		return nil
	}
	if ok, invalid := spdxexp.ValidateLicenses([]string{expr}); !ok {
		return fmt.Errorf("licence %q is not a valid SPDX expression: %v", expr, invalid)
	}
	for _, w := range strings.FieldsFunc(expr, func(r rune) bool { return r == ' ' || r == '(' || r == ')' }) {
		if strings.HasPrefix(w, "LicenseRef-") && declared != nil && !declared[w] {
			return fmt.Errorf("licence %q uses %s, which hasExtractedLicensingInfos does not declare", expr, w)
		}
	}
	return nil
}

// parsePURL reads pkg:deb/NAMESPACE/NAME@VERSION?arch=ARCH.
func parsePURL(s string) (Package, error) {
	rest, ok := strings.CutPrefix(s, "pkg:deb/")
	if !ok {
		return Package{}, fmt.Errorf("purl %q is not a deb one", s)
	}
	path, query, _ := strings.Cut(rest, "?")
	ns, nameVersion, ok := strings.Cut(path, "/")
	name, version, ok2 := strings.Cut(nameVersion, "@")
	if !ok || !ok2 || ns == "" {
		return Package{}, fmt.Errorf("purl %q is not pkg:deb/DISTRO/NAME@VERSION", s)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return Package{}, fmt.Errorf("purl %q: %w", s, err)
	}
	name, err1 := url.PathUnescape(name)
	version, err2 := url.PathUnescape(version)
	if err := errors.Join(err1, err2); err != nil {
		return Package{}, fmt.Errorf("purl %q: %w", s, err)
	}
	if q.Get("arch") == "" {
		return Package{}, fmt.Errorf("purl %q has no arch", s)
	}
	return Package{Name: name, Version: version, Architecture: q.Get("arch")}, nil
}
