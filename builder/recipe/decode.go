package recipe

import (
	"fmt"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/builder-images/builder/builder/events"
)

// sensitiveMark is the cty mark carried by values of sensitive variables
// and everything computed from them; hcl's diagnostic writer already
// refuses to print marked values.
const sensitiveMark = "sensitive"

// attrDecoder evaluates the attributes of one block against its schema
// and keeps every attribute's range, so semantic checks made after
// decoding can still point at the exact expression.
type attrDecoder struct {
	block     *hclsyntax.Block
	attrs     hcl.Attributes
	ctx       *hcl.EvalContext
	diags     *hcl.Diagnostics
	sensitive map[string]bool
	// failed holds attributes that were in error or unknown: their
	// problem is reported once, and checks on them say nothing more.
	failed map[string]bool
	// cache holds evaluated attributes (cty.NilVal: absent, null or
	// failed); secrets the strings of sensitive ones, for redaction.
	cache   map[string]cty.Value
	secrets map[string][]string
	// markedPaths are the parts of each sensitive attribute's value that
	// carry the mark, so that one map entry computed from a secret does
	// not make its neighbours secrets too.
	markedPaths map[string][]cty.Path
	// misspelt holds attributes of the schema that the block seems to
	// set under a misspelt name, reported already.
	misspelt map[string]bool
}

// decodeAttrs checks block's body against the attribute names (a name
// with a trailing "!" is required) and returns a decoder for them. Nested
// blocks are refused; blocks that take them decode those separately.
func decodeAttrs(block *hclsyntax.Block, ctx *hcl.EvalContext, diags *hcl.Diagnostics, names ...string) *attrDecoder {
	schema := &hcl.BodySchema{}
	var required []string
	for _, entry := range names {
		n, req := attrName(entry)
		if req {
			required = append(required, n)
		}
		// Required attributes are checked by require, which knows about
		// misspellings; hcl would report them missing as well.
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: n})
	}
	content, moreDiags := block.Body.Content(schema)
	*diags = append(*diags, moreDiags...)
	d := newAttrDecoder(block, content.Attributes, ctx, diags)
	d.misspelt = misspeltAttrs(block.Body, schema)
	for _, n := range required {
		d.require(n)
	}
	return d
}

// misspeltAttrs returns the schema's attributes that an unexpected
// attribute of body is a near miss of. hcl reports the unexpected one
// with a "did you mean"; the intended one is not reported missing too.
func misspeltAttrs(body *hclsyntax.Body, schema *hcl.BodySchema) map[string]bool {
	var names []string
	for _, a := range schema.Attributes {
		names = append(names, a.Name)
	}
	out := map[string]bool{}
	for name := range body.Attributes {
		if !slices.Contains(names, name) {
			if meant := closest(name, names); meant != "" {
				out[meant] = true
			}
		}
	}
	return out
}

// require reports a required attribute that is absent, at the block's
// opening brace as hcl does, unless a misspelling of it was reported.
func (d *attrDecoder) require(name string) {
	if d.has(name) || d.misspelt[name] {
		return
	}
	rng := d.block.Body.MissingItemRange()
	*d.diags = append(*d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Missing required argument",
		Detail:   fmt.Sprintf("The argument %q is required, but no definition was found.", name),
		Subject:  &rng,
	})
}

func newAttrDecoder(block *hclsyntax.Block, attrs hcl.Attributes, ctx *hcl.EvalContext, diags *hcl.Diagnostics) *attrDecoder {
	return &attrDecoder{block: block, attrs: attrs, ctx: ctx, diags: diags, sensitive: map[string]bool{}, failed: map[string]bool{},
		cache: map[string]cty.Value{}, secrets: map[string][]string{}, markedPaths: map[string][]cty.Path{}}
}

// has reports whether the recipe sets the attribute: written and not
// null (null means "use the default", as in Packer and Terraform). An
// attribute in error counts as set, so no "missing" error follows it.
func (d *attrDecoder) has(name string) bool {
	if _, written := d.attrs[name]; !written {
		return false
	}
	_, ok := d.eval(name)
	return ok || d.failed[name]
}

// rangeOf is the attribute's expression range, or the block's header
// when the attribute is absent, so a diagnostic always has a place.
func (d *attrDecoder) rangeOf(name string) hcl.Range {
	if a, ok := d.attrs[name]; ok {
		return a.Expr.Range()
	}
	return d.block.DefRange()
}

// elementRange points at element i of a list attribute written as a
// tuple literal, and at the whole attribute otherwise.
func (d *attrDecoder) elementRange(name string, i int) hcl.Range {
	if a, ok := d.attrs[name]; ok {
		if tuple, ok := a.Expr.(*hclsyntax.TupleConsExpr); ok && i < len(tuple.Exprs) {
			return tuple.Exprs[i].Range()
		}
	}
	return d.rangeOf(name)
}

func (d *attrDecoder) errorf(name, summary, format string, args ...any) {
	d.errorAt(name, d.rangeOf(name), summary, fmt.Sprintf(format, args...))
}

// elementErrorf reports a problem with element i of a list attribute.
func (d *attrDecoder) elementErrorf(name string, i int, summary, format string, args ...any) {
	d.errorAt(name, d.elementRange(name, i), summary, fmt.Sprintf(format, args...))
}

// errorAt adds a diagnostic about attribute name, unless the attribute
// was already reported, with the attribute's sensitive values masked.
func (d *attrDecoder) errorAt(name string, rng hcl.Range, summary, detail string) {
	if d.failed[name] {
		return
	}
	*d.diags = append(*d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   d.redact(name, detail),
		Subject:  &rng,
	})
}

// redact masks the strings of a sensitive attribute's value in text.
func (d *attrDecoder) redact(name, text string) string {
	if !d.sensitive[name] {
		return text
	}
	return events.NewMasker(d.secrets[name]...).Mask(text)
}

// eval evaluates an attribute once and caches the unmarked result, so a
// file() in it is read once and its errors are reported once. ok is
// false when the attribute is absent, null, in error, or depends on a
// value in error (unknown); callers then keep their default silently.
func (d *attrDecoder) eval(name string) (cty.Value, bool) {
	if v, done := d.cache[name]; done {
		return v, v != cty.NilVal
	}
	d.cache[name] = cty.NilVal
	a, present := d.attrs[name]
	if !present {
		return cty.NilVal, false
	}
	val, moreDiags := evalExpr(a.Expr, d.ctx)
	*d.diags = append(*d.diags, moreDiags...)
	if moreDiags.HasErrors() || !val.IsWhollyKnown() {
		d.failed[name] = true
		return cty.NilVal, false
	}
	val, paths := val.UnmarkDeepWithPaths()
	for _, pm := range paths {
		if _, ok := pm.Marks[sensitiveMark]; ok {
			d.sensitive[name] = true
			d.markedPaths[name] = append(d.markedPaths[name], pm.Path)
		}
	}
	if d.sensitive[name] {
		d.secrets[name] = leafTexts(val)
	}
	if val.IsNull() {
		return cty.NilVal, false
	}
	d.cache[name] = val
	return val, true
}

// sensitiveKey reports whether the entry key of a map or object
// attribute was computed from a sensitive value: the entry itself, or
// the whole value, carries the mark.
func (d *attrDecoder) sensitiveKey(name, key string) bool {
	for _, p := range d.markedPaths[name] {
		if len(p) == 0 {
			return true
		}
		switch step := p[0].(type) {
		case cty.GetAttrStep:
			if step.Name == key {
				return true
			}
		case cty.IndexStep:
			if k, _ := step.Key.Unmark(); k.Type() == cty.String && k.IsKnown() && !k.IsNull() && k.AsString() == key {
				return true
			}
		}
	}
	return false
}

// value evaluates an attribute and converts it to ty; ok as for eval.
func (d *attrDecoder) value(name string, ty cty.Type) (cty.Value, bool) {
	val, ok := d.eval(name)
	if !ok || d.failed[name] {
		return cty.NilVal, false
	}
	converted, err := convert.Convert(val, ty)
	if err != nil {
		a := d.attrs[name]
		rng := a.Expr.Range()
		*d.diags = append(*d.diags, &hcl.Diagnostic{
			Severity:    hcl.DiagError,
			Summary:     "Incorrect attribute value type",
			Detail:      fmt.Sprintf("Inappropriate value for attribute %q: %s.", name, err),
			Subject:     &rng,
			Expression:  a.Expr,
			EvalContext: d.ctx,
		})
		d.failed[name] = true
		return cty.NilVal, false
	}
	if converted.IsNull() {
		return cty.NilVal, false
	}
	return converted, true
}

// leafTexts lists every string and number inside v as text, for
// masking.
func leafTexts(v cty.Value) []string {
	var out []string
	_ = cty.Walk(v, func(_ cty.Path, leaf cty.Value) (bool, error) {
		if !leaf.IsKnown() || leaf.IsNull() {
			return true, nil
		}
		switch leaf.Type() {
		case cty.String:
			out = append(out, leaf.AsString())
		case cty.Number:
			out = append(out, leaf.AsBigFloat().Text('f', -1))
		}
		return true, nil
	})
	return out
}

func (d *attrDecoder) str(name, def string) string {
	if v, ok := d.value(name, cty.String); ok {
		return v.AsString()
	}
	return def
}

func (d *attrDecoder) boolean(name string, def bool) bool {
	if v, ok := d.value(name, cty.Bool); ok {
		return v.True()
	}
	return def
}

func (d *attrDecoder) strList(name string, def []string) []string {
	v, ok := d.value(name, cty.List(cty.String))
	if !ok {
		return def
	}
	out := make([]string, 0, v.LengthInt())
	for i, e := range v.AsValueSlice() {
		if e.IsNull() {
			d.errorf(name, "Invalid list element", "Element %d of %q is null; every element must be a string.", i, name)
			continue
		}
		out = append(out, e.AsString())
	}
	return out
}

func (d *attrDecoder) strMap(name string) map[string]string {
	v, ok := d.value(name, cty.Map(cty.String))
	if !ok {
		return nil
	}
	out := map[string]string{}
	for k, e := range v.AsValueMap() {
		if e.IsNull() {
			d.errorf(name, "Invalid map element", "Key %q of %q is null; every value must be a string.", k, name)
			continue
		}
		out[k] = e.AsString()
	}
	return out
}

// sensitiveNames lists the attributes whose values came from sensitive
// values, sorted so plans compare equal.
func (d *attrDecoder) sensitiveNames() []string { return sortedKeys(d.sensitive) }

// mode reads an octal file mode written as a string ("0644"). Numbers
// are refused: HCL reads 0644 as decimal 644, and 0044 as 44.
func (d *attrDecoder) mode(name string) (uint32, bool) {
	v, ok := d.eval(name)
	if !ok {
		return 0, false
	}
	if v.Type() != cty.String {
		d.errorf(name, "Invalid mode", "Write the mode as a string such as \"0644\": HCL reads the number 0644 as decimal 644.")
		return 0, false
	}
	mode, msg := parseMode(v.AsString())
	if msg != "" {
		d.errorf(name, "Invalid mode", "The %s", msg)
		return 0, false
	}
	return mode, true
}
