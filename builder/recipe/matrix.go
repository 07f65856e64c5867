package recipe

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Matrix is the `matrix` block: the values each axis (a variable) takes
// in nightly builds, and the combinations left out. A CI engine runs one
// job per combination (see Jobs).
type Matrix struct {
	Axes    []Axis
	Exclude []map[string]cty.Value
	Range   hcl.Range
}

// Axis is one variable and its values, in the order the recipe gives.
type Axis struct {
	Name   string
	Values []cty.Value
	Range  hcl.Range
}

// Job is one combination of the matrix.
type Job struct {
	// Name is stable and readable: the recipe's file name without .hcl,
	// then each axis value in axis order ("debian-arm64-cloud").
	Name string `json:"name"`
	// Vars are the combination as --var arguments, NAME=VALUE, in axis
	// order; Values the same as a map.
	Vars   []string          `json:"vars"`
	Values map[string]string `json:"variables"`
}

// decodeMatrix reads the matrix block. Its values are constants: they
// decide the variables, so they cannot depend on them.
func decodeMatrix(block *hclsyntax.Block, decls map[string]*variableDecl, funcs hcl.EvalContext, diags *hcl.Diagnostics) *Matrix {
	if block == nil {
		return nil
	}
	m := &Matrix{Range: block.DefRange()}
	ctx := &hcl.EvalContext{Functions: funcs.Functions}
	names := make([]string, 0, len(block.Body.Attributes))
	for name := range block.Body.Attributes {
		names = append(names, name)
	}
	// Declaration order: job names and the job list follow the recipe.
	slices.SortFunc(names, func(a, b string) int {
		return block.Body.Attributes[a].SrcRange.Start.Byte - block.Body.Attributes[b].SrcRange.Start.Byte
	})
	known := sortedKeys(decls)
	for _, name := range names {
		attr := block.Body.Attributes[name]
		decl, ok := decls[name]
		if !ok {
			addDiag(diags, attr.NameRange, "Unknown matrix axis",
				fmt.Sprintf("A matrix axis names a variable, and there is no variable %q%s.", name, suggest(name, known)))
			continue
		}
		axis := Axis{Name: name, Range: attr.SrcRange}
		val, moreDiags := attr.Expr.Value(ctx)
		*diags = append(*diags, moreDiags...)
		if moreDiags.HasErrors() {
			continue
		}
		if !val.Type().IsTupleType() && !val.Type().IsListType() || val.LengthInt() == 0 {
			addDiag(diags, attr.Expr.Range(), "Invalid matrix axis", fmt.Sprintf("The axis %s must be a non-empty list of values for var.%s.", name, name))
			continue
		}
		for it := val.ElementIterator(); it.Next(); {
			_, v := it.Element()
			if decl.typ != cty.NilType && decl.typ != cty.DynamicPseudoType {
				converted, err := convert.Convert(v, decl.typ)
				if err != nil {
					addDiag(diags, attr.Expr.Range(), "Invalid matrix value", fmt.Sprintf("The axis %s holds a value var.%s cannot take: %s.", name, name, err))
					continue
				}
				v = converted
			}
			if slices.ContainsFunc(axis.Values, func(w cty.Value) bool { return w.Equals(v).True() }) {
				addDiag(diags, attr.Expr.Range(), "Duplicate matrix value", fmt.Sprintf("The axis %s lists %s twice.", name, valueText(v)))
				continue
			}
			axis.Values = append(axis.Values, v)
		}
		m.Axes = append(m.Axes, axis)
	}
	for _, b := range block.Body.Blocks {
		if b.Type != "exclude" || len(b.Labels) != 0 {
			addDiag(diags, b.TypeRange, "Unsupported block type", fmt.Sprintf("A matrix block holds axes (NAME = [values]) and exclude blocks, not %q.", b.Type))
			continue
		}
		m.Exclude = append(m.Exclude, m.decodeExclude(b, ctx, diags))
	}
	return m
}

func (m *Matrix) decodeExclude(b *hclsyntax.Block, ctx *hcl.EvalContext, diags *hcl.Diagnostics) map[string]cty.Value {
	ex := map[string]cty.Value{}
	for _, name := range sortedKeys(b.Body.Attributes) {
		attr := b.Body.Attributes[name]
		i := slices.IndexFunc(m.Axes, func(a Axis) bool { return a.Name == name })
		if i < 0 {
			addDiag(diags, attr.NameRange, "Unknown matrix axis", fmt.Sprintf("An exclude names axes of the matrix, and %q is not one.", name))
			continue
		}
		v, moreDiags := attr.Expr.Value(ctx)
		*diags = append(*diags, moreDiags...)
		if moreDiags.HasErrors() {
			continue
		}
		if c, err := convert.Convert(v, m.Axes[i].Values[0].Type()); err == nil {
			v = c
		}
		if !slices.ContainsFunc(m.Axes[i].Values, func(w cty.Value) bool { return w.Type().Equals(v.Type()) && w.Equals(v).True() }) {
			addDiag(diags, attr.Expr.Range(), "Exclude matches nothing", fmt.Sprintf("The axis %s has no value %s, so this exclude leaves out nothing.", name, valueText(v)))
			continue
		}
		ex[name] = v
	}
	return ex
}

func addDiag(diags *hcl.Diagnostics, rng hcl.Range, summary, detail string) {
	*diags = append(*diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: &rng})
}

// valueText spells a value as a --var argument takes it: strings bare,
// anything else as an HCL expression.
func valueText(v cty.Value) string {
	if v.Type() == cty.String && !v.IsNull() {
		return v.AsString()
	}
	return strings.TrimSpace(string(hclwrite.TokensForValue(v).Bytes()))
}

var jobNameUnsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Jobs expands the matrix of the plan loaded from recipePath: every
// combination of the axes, first axis outermost, less the excluded ones.
// A recipe without a matrix is one job with no variables.
func (p *Plan) Jobs() []Job {
	stem := strings.TrimSuffix(filepath.Base(p.File), filepath.Ext(p.File))
	if p.Matrix == nil || len(p.Matrix.Axes) == 0 {
		return []Job{{Name: stem, Vars: []string{}, Values: map[string]string{}}}
	}
	var jobs []Job
	combo := make([]cty.Value, len(p.Matrix.Axes))
	var expand func(i int)
	expand = func(i int) {
		if i == len(p.Matrix.Axes) {
			if p.Matrix.excluded(combo) {
				return
			}
			job := Job{Values: map[string]string{}}
			parts := []string{stem}
			for j, a := range p.Matrix.Axes {
				text := valueText(combo[j])
				job.Vars = append(job.Vars, a.Name+"="+text)
				job.Values[a.Name] = text
				parts = append(parts, jobNameUnsafe.ReplaceAllString(text, "_"))
			}
			job.Name = strings.Join(parts, "-")
			jobs = append(jobs, job)
			return
		}
		for _, v := range p.Matrix.Axes[i].Values {
			combo[i] = v
			expand(i + 1)
		}
	}
	expand(0)
	return jobs
}

func (m *Matrix) excluded(combo []cty.Value) bool {
	for _, ex := range m.Exclude {
		if len(ex) == 0 {
			continue
		}
		all := true
		for j, a := range m.Axes {
			if v, ok := ex[a.Name]; ok && !v.Equals(combo[j]).True() {
				all = false
			}
		}
		if all {
			return true
		}
	}
	return false
}
