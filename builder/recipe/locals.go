package recipe

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// evaluateLocals evaluates every `locals` entry in dependency order and
// adds the `local` object to ctx. Locals in a cycle are reported together.
func evaluateLocals(blocks []*hclsyntax.Block, ctx *hcl.EvalContext, diags *hcl.Diagnostics) []Local {
	pending := map[string]*hcl.Attribute{}
	for _, b := range blocks {
		if len(b.Body.Blocks) > 0 {
			nested := b.Body.Blocks[0]
			rng := nested.DefRange()
			*diags = append(*diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unexpected block in locals",
				Detail:   "A locals block holds only name = value attributes.",
				Subject:  &rng,
			})
		}
		attrs, moreDiags := b.Body.JustAttributes()
		*diags = append(*diags, moreDiags...)
		for name, attr := range attrs {
			if prev, dup := pending[name]; dup {
				*diags = append(*diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate local value",
					Detail:   fmt.Sprintf("local.%s is already defined at %s.", name, prev.NameRange),
					Subject:  &attr.NameRange,
				})
				continue
			}
			pending[name] = attr
		}
	}

	values := map[string]cty.Value{}
	var out []Local
	for len(pending) > 0 {
		progressed := false
		for _, name := range sortedKeys(pending) {
			attr := pending[name]
			if !localDepsReady(attr, pending) {
				continue
			}
			ctx.Variables["local"] = cty.ObjectVal(values)
			val, moreDiags := attr.Expr.Value(ctx)
			*diags = append(*diags, moreDiags...)
			if moreDiags.HasErrors() {
				val = cty.DynamicVal
			}
			values[name] = val
			out = append(out, Local{Name: name, Value: val, Sensitive: val.ContainsMarked(), Range: attr.Range})
			delete(pending, name)
			progressed = true
		}
		if !progressed {
			names := sortedKeys(pending)
			first := pending[names[0]]
			*diags = append(*diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cycle in local values",
				Detail:   fmt.Sprintf("These locals refer to each other in a cycle: local.%s.", strings.Join(names, ", local.")),
				Subject:  &first.NameRange,
			})
			for _, n := range names {
				values[n] = cty.DynamicVal
			}
			break
		}
	}
	ctx.Variables["local"] = cty.ObjectVal(values)
	sort.Slice(out, func(i, j int) bool { return out[i].Range.Start.Byte < out[j].Range.Start.Byte })
	return out
}

// localDepsReady reports whether attr refers to no local still pending.
func localDepsReady(attr *hcl.Attribute, pending map[string]*hcl.Attribute) bool {
	for _, tr := range attr.Expr.Variables() {
		if tr.RootName() != "local" || len(tr) < 2 {
			continue
		}
		if dep := traversalAttr(tr[1]); dep != attr.Name {
			if _, waiting := pending[dep]; waiting {
				return false
			}
		} else {
			return false // refers to itself: a cycle of one
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
