package sbom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/builder-images/builder/builder/image"
)

// CycloneDX converts an SPDX document SPDX wrote into CycloneDX 1.6
// JSON: the image as the BOM's metadata component, and its files and
// installed packages as components with the same identifiers (bom-ref
// is the SPDXID), hashes, purls and licence expressions. j is the
// image.json the document was written with; its fingerprint becomes a
// property of the image. The conversion adds nothing the SPDX document
// does not say, and takes no clock: the same input, the same bytes.
func CycloneDX(spdxJSON []byte, j image.ImageJSON) ([]byte, error) {
	var doc Document
	dec := json.NewDecoder(bytes.NewReader(spdxJSON))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("reading the SPDX document: %w", err)
	}
	if doc.SPDXVersion != "SPDX-2.3" {
		return nil, fmt.Errorf("reading the SPDX document: version %q, not SPDX-2.3", doc.SPDXVersion)
	}
	bom := cdx.NewBOM()
	if strings.HasPrefix(doc.DocumentNamespace, "urn:uuid:") {
		bom.SerialNumber = doc.DocumentNamespace
	}
	bom.Metadata = &cdx.Metadata{
		Timestamp: doc.CreationInfo.Created,
		Tools:     &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication, Name: strings.TrimPrefix(Tool, "Tool: ")}}},
	}
	var comps []cdx.Component
	for _, p := range doc.Packages {
		c := cdx.Component{BOMRef: p.SPDXID, Name: p.Name, Version: p.VersionInfo}
		for _, sum := range p.Checksums {
			if sum.Algorithm == "SHA256" {
				c.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: sum.Value}}
			}
		}
		if p.LicenseDeclared != "" && p.LicenseDeclared != noAssertion {
			c.Licenses = &cdx.Licenses{{Expression: p.LicenseDeclared}}
		}
		switch {
		case p.SPDXID == ImageID:
			c.Type = cdx.ComponentTypeContainer
			if p.PrimaryPurpose == "OPERATING-SYSTEM" {
				c.Type = cdx.ComponentTypeOS
			}
			c.Description = p.Summary
			c.Properties = &[]cdx.Property{
				{Name: "builder:image:fingerprint", Value: j.Fingerprint},
				{Name: "builder:image:architecture", Value: j.Architecture},
				{Name: "builder:image:type", Value: j.Type},
			}
			bom.Metadata.Component = &c
			continue
		case strings.HasPrefix(p.SPDXID, filePrefix):
			c.Type = cdx.ComponentTypeFile
		case strings.HasPrefix(p.SPDXID, debPrefix):
			c.Type = cdx.ComponentTypeLibrary
			var props []cdx.Property
			for _, ref := range p.ExternalRefs {
				if ref.Type != "purl" {
					continue
				}
				c.PackageURL = ref.Locator
				if arch := purlArch(ref.Locator); arch != "" {
					props = append(props, cdx.Property{Name: "builder:deb:architecture", Value: arch})
				}
			}
			if src, ok := strings.CutPrefix(p.SourceInfo, "built package from: "); ok {
				name, version, _ := strings.Cut(src, " ")
				props = append(props, cdx.Property{Name: "builder:deb:source", Value: name}, cdx.Property{Name: "builder:deb:source_version", Value: version})
			}
			if len(props) > 0 {
				c.Properties = &props
			}
		default:
			return nil, fmt.Errorf("reading the SPDX document: package %s is not one builder writes", p.SPDXID)
		}
		comps = append(comps, c)
	}
	if bom.Metadata.Component == nil {
		return nil, fmt.Errorf("reading the SPDX document: it has no %s", ImageID)
	}
	bom.Components = &comps
	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON).SetPretty(true).SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return nil, fmt.Errorf("writing the CycloneDX document: %w", err)
	}
	return buf.Bytes(), nil
}

// purlArch is a purl's arch qualifier.
func purlArch(purl string) string {
	_, query, ok := strings.Cut(purl, "?")
	if !ok {
		return ""
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return ""
	}
	return q.Get("arch")
}
