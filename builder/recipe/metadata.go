package recipe

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/builder-images/builder/builder/image"
)

// ImageSpec returns the image block and templates as package image takes
// them (package image cannot name a Plan: it is imported by this one):
// the one way from a plan to its metadata.yaml and template check.
func (p *Plan) ImageSpec() image.Spec {
	img := p.Image
	s := image.Spec{
		Name:         img.Name,
		Distribution: img.Distribution,
		Release:      img.Release,
		Variant:      img.Variant,
		Description:  img.Description,
		Architecture: img.Architecture,
		Expiry:       img.Expiry,
		Serial:       img.Serial,
		Properties:   img.Properties,
	}
	for _, t := range p.Templates {
		s.Templates = append(s.Templates, t.Template)
	}
	return s
}

// latestCreation is the creation time validation renders metadata.yaml
// with: the last minute of the year 9999 gives the longest
// creation_date, expiry_date and serial any build writes, so a recipe
// whose metadata fits here fits at every build (one built today writes
// each date two digits shorter).
func latestCreation() time.Time { return time.Date(9999, 12, 31, 23, 59, 0, 0, time.UTC) }

// derivedProperties maps the properties builder derives from image
// attributes to those attributes.
var derivedProperties = map[string]string{
	"os": "distribution", "release": "release", "variant": "variant", "architecture": "architecture",
	"description": "description", "serial": "serial", "name": "name",
}

// checkMetadataSize renders metadata.yaml as the build will and refuses
// it when LXD and Incus would not read all of it (image.MaxMetadataSize),
// at the largest part: an image property or a template's entry. Other
// problems of the metadata are reported by the checks of their blocks.
func checkMetadataSize(p *Plan, body *hclsyntax.Body) hcl.Diagnostics {
	md, err := image.NewMetadata(p.ImageSpec(), latestCreation())
	if err != nil {
		return nil
	}
	_, err = md.YAML()
	var tooLarge *image.MetadataTooLargeError
	if !errors.As(err, &tooLarge) {
		return nil
	}
	what, size, rng := largestMetadataPart(md, p, body)
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Metadata too large",
		Detail: fmt.Sprintf("metadata.yaml would be %d bytes, and LXD and Incus read at most %d (1 MiB); the largest part is %s (%d bytes). Shorten the image's or the templates' properties.",
			tooLarge.Size, image.MaxMetadataSize, what, size),
		Subject: &rng,
	}}
}

// largestMetadataPart finds the property or template entry of md that
// takes the most bytes, and the recipe range that sets it.
func largestMetadataPart(md image.Metadata, p *Plan, body *hclsyntax.Body) (what string, size int, rng hcl.Range) {
	imageBlock := firstBlockOfType(body, "image")
	empty := md
	empty.Properties, empty.Templates = map[string]string{}, nil
	base := encodedSize(empty)
	rng = p.Image.Range
	size = -1
	for _, k := range sortedKeys(md.Properties) {
		part := empty
		part.Properties = map[string]string{k: md.Properties[k]}
		if n := encodedSize(part) - base; n > size {
			what, size, rng = fmt.Sprintf("the image's property %q", k), n, propertyRange(imageBlock, p, k)
		}
	}
	for _, path := range sortedKeys(md.Templates) {
		part := empty
		part.Templates = map[string]image.MetadataTemplate{path: md.Templates[path]}
		if n := encodedSize(part) - base; n > size {
			what, size, rng = fmt.Sprintf("the template %q", path), n, templateRange(body, p, path)
		}
	}
	return what, size, rng
}

func encodedSize(m image.Metadata) int {
	data, err := m.YAML()
	if err != nil {
		return 0
	}
	return len(data)
}

// propertyRange is where the image block sets property k: the entry of
// its properties, the attribute it derives from, or the block.
func propertyRange(block *hclsyntax.Block, p *Plan, k string) hcl.Range {
	if block == nil {
		return p.Image.Range
	}
	if _, own := p.Image.Properties[k]; own {
		return entryRange(block, "properties", k)
	}
	if attr, ok := block.Body.Attributes[derivedProperties[k]]; ok {
		return attr.Expr.Range()
	}
	return p.Image.Range
}

// templateRange is the properties attribute of the enabled template
// block for path, or the block itself.
func templateRange(body *hclsyntax.Body, p *Plan, path string) hcl.Range {
	for _, t := range p.Templates {
		if !t.Enabled || t.Path != path {
			continue
		}
		for _, b := range body.Blocks {
			if b.Type == "template" && b.DefRange() == t.Range {
				if attr, ok := b.Body.Attributes["properties"]; ok {
					return attr.Expr.Range()
				}
			}
		}
		return t.Range
	}
	return p.Image.Range
}

// entryRange points at key's entry when the attribute is an object
// literal, and at the whole attribute otherwise.
func entryRange(block *hclsyntax.Block, name, key string) hcl.Range {
	attr, ok := block.Body.Attributes[name]
	if !ok {
		return block.DefRange()
	}
	if obj, ok := attr.Expr.(*hclsyntax.ObjectConsExpr); ok {
		for _, item := range obj.Items {
			k := hcl.ExprAsKeyword(item.KeyExpr)
			if k == "" {
				if v, diags := item.KeyExpr.Value(nil); !diags.HasErrors() && v.Type().Equals(cty.String) && v.IsKnown() && !v.IsNull() {
					k = v.AsString()
				}
			}
			if k == key {
				return item.KeyExpr.Range()
			}
		}
	}
	return attr.Expr.Range()
}

func firstBlockOfType(body *hclsyntax.Body, typ string) *hclsyntax.Block {
	for _, b := range body.Blocks {
		if b.Type == typ {
			return b
		}
	}
	return nil
}
