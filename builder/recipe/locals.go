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
		for _, nested := range b.Body.Blocks {
			rng := nested.DefRange()
			*diags = append(*diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unexpected block in locals",
				Detail:   fmt.Sprintf("A locals block holds only name = value attributes, so the %q block cannot be inside it.", nested.Type),
				Subject:  &rng,
			})
		}
		// The blocks were reported above; JustAttributes would report
		// each of them again.
		attrs, moreDiags := attributesOnly(b.Body).JustAttributes()
		*diags = append(*diags, moreDiags...)
		for _, name := range sortedKeys(attrs) {
			attr := attrs[name]
			if prev, dup := pending[name]; dup {
				*diags = append(*diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate local value",
					Detail:   fmt.Sprintf("local.%s is already defined at %s:%d; each local value may be defined only once.", name, prev.NameRange.Filename, prev.NameRange.Start.Line),
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
			val, moreDiags := evalExpr(attr.Expr, ctx)
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
			names := cycleMembers(pending)
			first := pending[names[0]]
			*diags = append(*diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cycle in local values",
				Detail:   fmt.Sprintf("These locals refer to each other in a cycle: local.%s. Break the cycle by computing one of them without the others.", strings.Join(names, ", local.")),
				Subject:  &first.NameRange,
			})
			// Locals that only depend on the cycle are unknown too, and
			// say nothing more.
			for _, n := range sortedKeys(pending) {
				values[n] = cty.DynamicVal
			}
			break
		}
	}
	ctx.Variables["local"] = cty.ObjectVal(values)
	sort.Slice(out, func(i, j int) bool { return out[i].Range.Start.Byte < out[j].Range.Start.Byte })
	return out
}

// attributesOnly returns body without its nested blocks.
func attributesOnly(body *hclsyntax.Body) *hclsyntax.Body {
	if len(body.Blocks) == 0 {
		return body
	}
	stripped := *body
	stripped.Blocks = nil
	return &stripped
}

// cycleMembers returns the sorted names of the pending locals that are on
// a cycle, leaving out those that merely depend on one: a local no other
// pending local refers to cannot be on a cycle, so such locals are
// dropped until none is left to drop.
func cycleMembers(pending map[string]*hcl.Attribute) []string {
	left := map[string]*hcl.Attribute{}
	for n, a := range pending {
		left[n] = a
	}
	for {
		referred := map[string]bool{}
		for _, a := range left {
			for _, dep := range localDeps(a) {
				referred[dep] = true
			}
		}
		dropped := false
		for n := range left {
			if !referred[n] {
				delete(left, n)
				dropped = true
			}
		}
		if !dropped || len(left) == 0 {
			break
		}
	}
	if len(left) == 0 {
		return sortedKeys(pending) // cannot happen with a real cycle
	}
	return sortedKeys(left)
}

// localDeps lists the locals attr refers to.
func localDeps(attr *hcl.Attribute) []string {
	var deps []string
	for _, tr := range attr.Expr.Variables() {
		if tr.RootName() == "local" && len(tr) >= 2 {
			if dep := traversalAttr(tr[1]); dep != "" {
				deps = append(deps, dep)
			}
		}
	}
	return deps
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
