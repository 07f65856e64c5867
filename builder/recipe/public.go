package recipe

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// publicImageAttrs are the image block's attributes that are published:
// they name the image's files and go into image.json, metadata.yaml and,
// through `builder publish`, a simplestreams images.json.
var publicImageAttrs = []string{"name", "distribution", "release", "architecture", "variant", "description", "expiry", "serial", "aliases", "properties"}

// publicTemplateAttrs are a template's settings that go into the image's
// metadata.yaml. Its content is left out: like a file step's content, it
// is part of the image itself, where a recipe may well put a secret.
var publicTemplateAttrs = []string{"name", "when", "create_only", "properties", "uid", "gid", "mode"}

// checkPublic reports each attribute among names that was computed from
// a sensitive value: published metadata is where a masked log cannot
// help. Wrapping the value in nonsensitive() says it is meant to be
// public, as Terraform's outputs do. The diagnostic points at the map
// entry or list element that is sensitive when the recipe writes the
// map or list out, and at the attribute otherwise.
func (d *attrDecoder) checkPublic(block string, names []string, where string) {
	for _, name := range names {
		if !d.sensitive[name] || d.failed[name] {
			continue
		}
		parts := d.sensitiveParts(name)
		if len(parts) == 0 {
			parts = []publicPart{{label: name, rng: d.rangeOf(name)}}
		}
		for _, p := range parts {
			*d.diags = append(*d.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Sensitive value in public image metadata",
				Detail: fmt.Sprintf("%s of %s is computed from a sensitive value, and %s. If it is meant to be public, say so with nonsensitive(…).",
					p.label, block, where),
				Subject: p.rng.Ptr(),
			})
		}
	}
}

type publicPart struct {
	label string
	rng   hcl.Range
}

// sensitiveParts finds the entries of a map or list written out in the
// recipe whose values are sensitive. Their expressions were evaluated
// without errors already, so evaluating them again reports nothing new.
func (d *attrDecoder) sensitiveParts(name string) []publicPart {
	attr, ok := d.attrs[name]
	if !ok {
		return nil
	}
	var out []publicPart
	sensitive := func(e hcl.Expression) bool {
		v, diags := e.Value(d.ctx)
		return !diags.HasErrors() && v.ContainsMarked()
	}
	switch e := attr.Expr.(type) {
	case *hclsyntax.ObjectConsExpr:
		for _, item := range e.Items {
			if !sensitive(item.ValueExpr) {
				continue
			}
			label := name
			if k, diags := item.KeyExpr.Value(d.ctx); !diags.HasErrors() && k.Type() == cty.String && !k.IsMarked() && k.IsKnown() && !k.IsNull() {
				label = fmt.Sprintf("%s[%q]", name, k.AsString())
			}
			out = append(out, publicPart{label: label, rng: item.ValueExpr.Range()})
		}
	case *hclsyntax.TupleConsExpr:
		for i, elem := range e.Exprs {
			if sensitive(elem) {
				out = append(out, publicPart{label: fmt.Sprintf("%s[%d]", name, i), rng: elem.Range()})
			}
		}
	}
	return out
}
