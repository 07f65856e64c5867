package recipe

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// evalExpr evaluates expr after checking that every var.NAME and
// local.NAME it refers to exists. hcl alone reports such a mistake as
// "This object does not have an attribute named …", which does not say
// that a declaration is missing, nor suggest the name that was meant.
func evalExpr(expr hcl.Expression, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	if diags := checkReferences(expr, ctx); diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	return expr.Value(ctx)
}

// checkReferences reports the references in expr to variables, locals or
// roots that ctx does not define. A nil ctx allows no references at all,
// which hcl itself reports.
func checkReferences(expr hcl.Expression, ctx *hcl.EvalContext) hcl.Diagnostics {
	if ctx == nil {
		return nil
	}
	var diags hcl.Diagnostics
	for _, tr := range expr.Variables() {
		if d := referenceDiag(tr, ctx); d != nil {
			diags = append(diags, d)
		}
	}
	return diags
}

func referenceDiag(tr hcl.Traversal, ctx *hcl.EvalContext) *hcl.Diagnostic {
	rng := tr.SourceRange()
	root := tr.RootName()
	obj, known := ctx.Variables[root]
	if !known {
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unknown variable",
			Detail: fmt.Sprintf("There is no variable named %q%s. A recipe refers to its variables as var.NAME, to its locals as local.NAME and to the instance type it is built for as build.type.",
				root, suggest(root, sortedKeys(ctx.Variables))),
			Subject: &rng,
		}
	}
	if len(tr) < 2 || !obj.Type().IsObjectType() {
		return nil
	}
	name := traversalAttr(tr[1])
	if name == "" || obj.Type().HasAttribute(name) {
		return nil
	}
	names := sortedKeys(obj.Type().AttributeTypes())
	switch root {
	case "var":
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Reference to undeclared variable",
			Detail:   fmt.Sprintf("There is no variable named %q%s; declare it with a variable %q { … } block.", name, suggest(name, names), name),
			Subject:  &rng,
		}
	case "local":
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Reference to undeclared local value",
			Detail:   fmt.Sprintf("There is no local value named %q%s; define it in a locals block.", name, suggest(name, names)),
			Subject:  &rng,
		}
	case "build":
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unknown build attribute",
			Detail:   fmt.Sprintf("build has no attribute %q%s: build.type is the instance type the recipe is built for, \"container\" or \"vm\".", name, suggest(name, names)),
			Subject:  &rng,
		}
	}
	return nil
}
