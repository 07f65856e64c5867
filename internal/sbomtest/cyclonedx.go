package sbomtest

import (
	"bytes"
	"errors"
	"fmt"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/builder-images/builder/builder/image"
)

// CheckCycloneDX decodes a CycloneDX JSON document with cyclonedx-go and
// checks it against j: spec 1.6, the image as the metadata component
// with j's fingerprint, the image's files with their sha256, one library
// per installed package with its purl (the set equal to j's), and valid
// licence expressions.
func CheckCycloneDX(data []byte, j image.ImageJSON) (*cdx.BOM, error) {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return nil, fmt.Errorf("decoding the CycloneDX document: %w", err)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if bom.BOMFormat != cdx.BOMFormat || bom.SpecVersion != cdx.SpecVersion1_6 {
		bad("format %q spec %v, want CycloneDX 1.6", bom.BOMFormat, bom.SpecVersion)
	}
	if bom.Metadata == nil || bom.Metadata.Component == nil {
		return &bom, errors.Join(append(errs, errors.New("no metadata component: the image"))...)
	}
	fp := ""
	if props := bom.Metadata.Component.Properties; props != nil {
		for _, p := range *props {
			if p.Name == "builder:image:fingerprint" {
				fp = p.Value
			}
		}
	}
	if fp != j.Fingerprint {
		bad("the image's fingerprint is %q, image.json's %s", fp, j.Fingerprint)
	}
	refs := map[string]bool{}
	files := map[string]string{}
	var got []Package
	if bom.Components == nil {
		bad("no components")
	} else {
		for _, c := range *bom.Components {
			if c.BOMRef == "" || refs[c.BOMRef] {
				bad("component %s: bom-ref %q empty or taken", c.Name, c.BOMRef)
			}
			refs[c.BOMRef] = true
			if c.Licenses != nil {
				for _, l := range *c.Licenses {
					if err := checkLicense(l.Expression, nil); err != nil && l.Expression != "" {
						bad("component %s: %v", c.Name, err)
					}
				}
			}
			switch c.Type {
			case cdx.ComponentTypeFile:
				if c.Hashes != nil {
					for _, h := range *c.Hashes {
						if h.Algorithm == cdx.HashAlgoSHA256 {
							files[c.Name] = h.Value
						}
					}
				}
			case cdx.ComponentTypeLibrary:
				p, err := parsePURL(c.PackageURL)
				if err != nil {
					bad("component %s: %v", c.Name, err)
					continue
				}
				if p.Name != c.Name || p.Version != c.Version {
					bad("component %s %s: its purl %s names another", c.Name, c.Version, c.PackageURL)
				}
				got = append(got, p)
			default:
				bad("component %s has type %q", c.Name, c.Type)
			}
		}
	}
	for _, f := range j.Files {
		if files[f.Name] != f.SHA256 {
			bad("image file %s: the BOM says sha256 %q, image.json %s", f.Name, files[f.Name], f.SHA256)
		}
	}
	if err := SamePackages(got, j.Packages); err != nil {
		errs = append(errs, err)
	}
	return &bom, errors.Join(errs...)
}
