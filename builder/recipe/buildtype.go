package recipe

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// instanceTypes are the values build.type takes, in the order LoadEach
// would list them for a recipe declaring both.
var instanceTypes = []string{InstanceContainer, InstanceVM}

// buildValue is the built-in `build` object: build.type is the instance
// type the recipe is being evaluated for.
func buildValue(instanceType string) cty.Value {
	return cty.ObjectVal(map[string]cty.Value{"type": cty.StringVal(instanceType)})
}

// outputTypes works out the instance type of each output block before
// the recipe is evaluated for one: which instance types a recipe builds
// must not depend on build.type, so the type attribute is evaluated with
// each value of build.type, and locals with it when it uses any. An
// output whose type differs between them is reported; one that cannot be
// evaluated gets "" (the evaluation proper reports why).
func outputTypes(blocks map[string][]*hclsyntax.Block, ctx *hcl.EvalContext, diags *hcl.Diagnostics) []string {
	var scratch map[string]*hcl.EvalContext // by build.type, made on first use
	types := make([]string, len(blocks["output"]))
	for i, b := range blocks["output"] {
		attr, ok := b.Body.Attributes["type"]
		if !ok {
			types[i] = InstanceContainer
			continue
		}
		if scratch == nil {
			scratch = map[string]*hcl.EvalContext{}
			for _, it := range instanceTypes {
				scratch[it] = scratchContext(ctx, blocks, it)
			}
		}
		seen := map[string]bool{}
		for _, it := range instanceTypes {
			val, moreDiags := evalExpr(attr.Expr, scratch[it])
			if moreDiags.HasErrors() || !val.IsWhollyKnown() || val.IsNull() || val.Type() != cty.String {
				seen[""] = true
				continue
			}
			val, _ = val.Unmark()
			seen[Output{Type: val.AsString()}.InstanceType()] = true
		}
		switch {
		case seen[""]:
			// reported by the evaluation proper
		case len(seen) > 1:
			rng := attr.Expr.Range()
			*diags = append(*diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Output type depends on build.type",
				Detail: "Which instance types a recipe builds comes from its outputs' types, and build.type is one of those, so an output's type cannot be computed from build.type. " +
					"Give each instance type its own output block instead.",
				Subject: &rng,
			})
		default:
			for it := range seen {
				types[i] = it
			}
		}
	}
	return types
}

// scratchContext is ctx with build.type set and, when an output's type
// refers to locals, the locals evaluated with it; its diagnostics are
// dropped, since the evaluation proper reports the same ones.
func scratchContext(ctx *hcl.EvalContext, blocks map[string][]*hclsyntax.Block, instanceType string) *hcl.EvalContext {
	s := &hcl.EvalContext{Variables: maps.Clone(ctx.Variables), Functions: ctx.Functions}
	s.Variables["build"] = buildValue(instanceType)
	for _, b := range blocks["output"] {
		if attr, ok := b.Body.Attributes["type"]; ok && refersTo(attr.Expr, "local") {
			var dropped hcl.Diagnostics
			evaluateLocals(blocks["locals"], s, &dropped)
			break
		}
	}
	return s
}

// refersTo reports whether expr refers to the root name root.
func refersTo(expr hcl.Expression, root string) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() == root {
			return true
		}
	}
	return false
}

// chooseInstanceType is the build.type to evaluate with: the one asked
// for, else that of the first output.
func chooseInstanceType(asked string, types []string, diags *hcl.Diagnostics) string {
	switch asked {
	case InstanceContainer, InstanceVM:
		return asked
	case "":
		if len(types) > 0 && types[0] != "" {
			return types[0]
		}
		return InstanceContainer
	}
	*diags = append(*diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid instance type",
		Detail:   fmt.Sprintf("build.type is %q or %q, not %q.", InstanceContainer, InstanceVM, asked),
	})
	return InstanceContainer
}

// selectOutput sets the plan's Output: the first of its outputs for the
// plan's instance type. A recipe without one is reported.
func selectOutput(plan *Plan, diags *hcl.Diagnostics) {
	for _, out := range plan.Outputs {
		if out.InstanceType() == plan.InstanceType {
			plan.Output = out
			return
		}
	}
	plan.Output = plan.Outputs[0]
	*diags = append(*diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "No output for this instance type",
		Detail:   fmt.Sprintf("The recipe was evaluated with build.type = %q, and none of its output blocks builds such an image; add an output block with type = %q.", plan.InstanceType, exampleType(plan.InstanceType)),
	})
}

func exampleType(instanceType string) string {
	if instanceType == InstanceVM {
		return OutputVM
	}
	return OutputSplit
}

// LoadEach evaluates the recipe once for each instance type its outputs
// build, in order of first appearance (opts.InstanceType is ignored),
// from files parsed once, and sets their SharedSteps. The diagnostics
// are the union of every evaluation's, each once; one that only some
// evaluations report says for which build.type. The plans are nil when
// the file does not parse.
func (l *Loader) LoadEach(path string, opts Options) ([]*Plan, hcl.Diagnostics) {
	opts.InstanceType = ""
	first, diags := l.Load(path, opts)
	if first == nil {
		return nil, diags
	}
	plans := []*Plan{first}
	all := []hcl.Diagnostics{diags}
	for _, out := range first.Outputs {
		it := out.InstanceType()
		if slices.ContainsFunc(plans, func(p *Plan) bool { return p.InstanceType == it }) {
			continue
		}
		opts.InstanceType = it
		p, more := l.Load(path, opts)
		if p == nil {
			return nil, more
		}
		plans = append(plans, p)
		all = append(all, more)
	}
	MarkSharedSteps(plans)
	var types []string
	for _, p := range plans {
		types = append(types, p.InstanceType)
	}
	return plans, mergeDiagnostics(all, types)
}

// mergeDiagnostics is the union of each evaluation's diagnostics, in
// position order, each once. One that only some of the evaluations
// report gets the build.type it arose with appended to its detail.
func mergeDiagnostics(each []hcl.Diagnostics, types []string) hcl.Diagnostics {
	type entry struct {
		diag  *hcl.Diagnostic
		types []string
	}
	var order []string
	seen := map[string]*entry{}
	for i, diags := range each {
		for _, d := range diags {
			key := diagKey(d)
			e, ok := seen[key]
			if !ok {
				e = &entry{diag: d}
				seen[key] = e
				order = append(order, key)
			}
			if !slices.Contains(e.types, types[i]) {
				e.types = append(e.types, types[i])
			}
		}
	}
	var out hcl.Diagnostics
	for _, key := range order {
		e := seen[key]
		d := e.diag
		if len(e.types) < len(types) {
			copied := *d
			copied.Detail = strings.TrimSpace(d.Detail + fmt.Sprintf(" (With build.type = %q.)", strings.Join(e.types, "\", \"")))
			d = &copied
		}
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool { return diagBefore(out[i], out[j]) })
	return out
}

// diagKey identifies a diagnostic by what it says and where.
func diagKey(d *hcl.Diagnostic) string {
	where := ""
	if d.Subject != nil {
		where = d.Subject.String()
	}
	return fmt.Sprintf("%d\x00%s\x00%s\x00%s", d.Severity, d.Summary, d.Detail, where)
}
