package recipe

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/builder-images/builder/builder/events"
)

// Options are the inputs of a recipe besides its file.
type Options struct {
	// Vars are --var NAME=VALUE options in command-line order.
	Vars []string
	// VarFiles are --var-file paths in command-line order.
	VarFiles []string
	// Environ is the process environment, read for BUILDER_VAR_ values.
	Environ []string
	// HostArch is the GOARCH used when the image block names no
	// architecture.
	HostArch string
	// InstanceType is the build.type to evaluate with, "container" or
	// "vm"; "" is the instance type of the recipe's first output.
	InstanceType string
}

// Loader parses recipes and keeps every file it read so diagnostics can
// be rendered with snippets afterwards.
type Loader struct {
	parser *hclparse.Parser
}

// NewLoader returns a Loader with no files read yet.
func NewLoader() *Loader {
	return &Loader{parser: hclparse.NewParser()}
}

// Files maps file names to their parsed form, for hcl's diagnostic writers.
func (l *Loader) Files() map[string]*hcl.File { return l.parser.Files() }

// addSource registers a non-HCL file (a template) so diagnostics in it get
// snippets too.
func (l *Loader) addSource(name string, src []byte) {
	if _, ok := l.parser.Files()[name]; !ok {
		l.parser.AddFile(name, &hcl.File{Bytes: src})
	}
}

// BlockTypes lists the top-level block types, sorted.
func BlockTypes() []string { return sortedKeys(blockSchemas) }

// Load parses and evaluates the recipe at path. When the file parses,
// the plan is returned even with errors, as far as it could be built, so
// callers must check diags.HasErrors() before using it; when it does not
// parse, the plan is nil.
func (l *Loader) Load(path string, opts Options) (*Plan, hcl.Diagnostics) {
	file, diags := l.parser.ParseHCLFile(path)
	if diags.HasErrors() {
		return nil, diags
	}
	body, ok := file.Body.(*hclsyntax.Body)
	if !ok {
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unsupported recipe syntax", Detail: path + " is not in HCL native syntax."})
	}
	blocks := groupBlocks(body, &diags)

	plan := &Plan{File: path, Dir: filepath.Dir(path)}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{}, Functions: functions(plan.Dir)}

	// Phase 1: variables, their values and validations.
	decls := map[string]*variableDecl{}
	var order []*variableDecl
	for _, b := range blocks["variable"] {
		decl := decodeVariable(b, &diags)
		if prev, dup := decls[decl.name]; dup {
			diags = append(diags, duplicateDiag("variable", decl.name, prev.block, b))
			continue
		}
		decls[decl.name] = decl
		order = append(order, decl)
	}
	assigned, moreDiags := collectAssignments(decls, opts, l.parseVarFile)
	diags = append(diags, moreDiags...)
	varValues := map[string]cty.Value{}
	for _, decl := range order {
		a, has := assigned[decl.name]
		v := resolveVariable(decl, a, has, ctx.Functions, &diags)
		plan.Variables = append(plan.Variables, v)
		varValues[decl.name] = v.Value
	}
	ctx.Variables["var"] = cty.ObjectVal(varValues)
	plan.Matrix = decodeMatrix(firstBlock(blocks["matrix"]), decls, *ctx, &diags)

	// Phase 2: the instance type, which build.type holds for everything
	// below, then locals, in dependency order.
	types := outputTypes(blocks, ctx, &diags)
	plan.InstanceType = chooseInstanceType(opts.InstanceType, types, &diags)
	ctx.Variables["build"] = buildValue(plan.InstanceType)
	plan.Locals = evaluateLocals(blocks["locals"], ctx, &diags)

	// Phase 3: the image, then everything that may default to it.
	plan.Image = decodeImage(firstBlock(blocks["image"]), body, ctx, opts.HostArch, &diags)
	plan.Outputs = decodeOutputs(blocks["output"], ctx, &diags)
	selectOutput(plan, &diags)
	plan.Limits = decodeLimits(firstBlock(blocks["limits"]), ctx, &diags)
	plan.Environment = decodeEnvironment(blocks["environment"], ctx, &diags)

	// Phase 4: steps, in stage order and recipe order within a stage.
	steps := &stepDecoder{ctx: ctx, diags: &diags, plan: plan}
	for _, b := range body.Blocks {
		if _, known := blockSchemas[b.Type]; !known || !labelsOK(b) {
			continue
		}
		switch b.Type {
		case "bootstrap", "repository", "packages", "file", "copy", "remove", "run":
			if step, ok := steps.decode(b); ok {
				plan.Steps = append(plan.Steps, step)
			}
		case "template":
			if t, ok := steps.template(b, l); ok {
				plan.Templates = append(plan.Templates, t)
			}
		case "test":
			plan.Tests = append(plan.Tests, decodeTest(b, ctx, &diags))
		}
	}
	sort.SliceStable(plan.Steps, func(i, j int) bool { return plan.Steps[i].Stage < plan.Steps[j].Stage })

	// Phase 5: checks across blocks.
	diags = append(diags, checkPlan(plan, body)...)
	diags = append(diags, checkTestNames(plan.Tests)...)
	diags = append(diags, checkMetadataSize(plan, body)...)
	diags = append(diags, checkVMBoot(plan)...)
	return plan, finishDiagnostics(diags, plan)
}

// finishDiagnostics orders diagnostics by position, those without one
// first, and masks the values of sensitive variables in their text: go-cty
// functions quote their arguments in errors whether marked or not.
func finishDiagnostics(diags hcl.Diagnostics, plan *Plan) hcl.Diagnostics {
	var secrets []string
	for _, v := range plan.Variables {
		secrets = append(secrets, v.secrets...)
	}
	m := events.NewMasker(secrets...)
	for _, d := range diags {
		d.Summary = m.Mask(d.Summary)
		d.Detail = m.Mask(d.Detail)
	}
	sort.SliceStable(diags, func(i, j int) bool { return diagBefore(diags[i], diags[j]) })
	return diags
}

func diagBefore(a, b *hcl.Diagnostic) bool {
	switch {
	case a.Subject == nil || b.Subject == nil:
		return a.Subject == nil && b.Subject != nil
	case a.Subject.Filename != b.Subject.Filename:
		return a.Subject.Filename < b.Subject.Filename
	case a.Subject.Start.Line != b.Subject.Start.Line:
		return a.Subject.Start.Line < b.Subject.Start.Line
	}
	return a.Subject.Start.Column < b.Subject.Start.Column
}

func (l *Loader) parseVarFile(path string) (*hcl.File, hcl.Diagnostics) {
	if strings.HasSuffix(path, ".json") {
		return l.parser.ParseJSONFile(path)
	}
	return l.parser.ParseHCLFile(path)
}

// groupBlocks checks every top-level item against blockSchemas and returns
// the blocks by type. Unknown items are reported with a suggestion.
func groupBlocks(body *hclsyntax.Body, diags *hcl.Diagnostics) map[string][]*hclsyntax.Block {
	for _, name := range sortedKeys(body.Attributes) {
		attr := body.Attributes[name]
		rng := attr.NameRange
		*diags = append(*diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unsupported argument",
			Detail:   fmt.Sprintf("The top level of a recipe holds only blocks, so the argument %q is not expected here%s.", name, suggest(name, BlockTypes())),
			Subject:  &rng,
		})
	}
	grouped := map[string][]*hclsyntax.Block{}
	for _, b := range body.Blocks {
		kind, known := blockSchemas[b.Type]
		if !known {
			rng := b.TypeRange
			*diags = append(*diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported block type",
				Detail:   fmt.Sprintf("Blocks of type %q are not expected here%s. Recipe blocks: %s.", b.Type, suggest(b.Type, BlockTypes()), strings.Join(BlockTypes(), ", ")),
				Subject:  &rng,
			})
			continue
		}
		if d := labelDiag(b, kind); d != nil {
			*diags = append(*diags, d)
			continue
		}
		if kind.single && len(grouped[b.Type]) > 0 {
			*diags = append(*diags, duplicateDiag(b.Type, "", grouped[b.Type][0], b))
			continue
		}
		grouped[b.Type] = append(grouped[b.Type], b)
	}
	return grouped
}

func labelsOK(b *hclsyntax.Block) bool { return labelDiag(b, blockSchemas[b.Type]) == nil }

func labelDiag(b *hclsyntax.Block, kind blockSchema) *hcl.Diagnostic {
	want, got := len(kind.labels), len(b.Labels)
	if got == want || (kind.optLabel && got == want-1) {
		for i, l := range b.Labels {
			if strings.TrimSpace(l) == "" {
				return &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Empty block label",
					Detail:   fmt.Sprintf("The %s of a %s block must not be empty.", kind.labels[i], b.Type),
					Subject:  &b.LabelRanges[i],
				}
			}
		}
		return nil
	}
	if got > want {
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Extraneous label for " + b.Type,
			Detail:   fmt.Sprintf("A %s block takes %s.", b.Type, labelText(kind)),
			Subject:  &b.LabelRanges[want],
		}
	}
	rng := b.OpenBraceRange
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Missing %s for %s", kind.labels[got], b.Type),
		Detail:   fmt.Sprintf("A %s block takes %s.", b.Type, labelText(kind)),
		Subject:  &rng,
	}
}

func labelText(kind blockSchema) string {
	switch {
	case len(kind.labels) == 0:
		return "no labels"
	case kind.optLabel:
		return fmt.Sprintf("an optional label, its %s", kind.labels[0])
	default:
		return fmt.Sprintf("one label, its %s", kind.labels[0])
	}
}

func duplicateDiag(kind, name string, first, again *hclsyntax.Block) *hcl.Diagnostic {
	what := fmt.Sprintf("%s block", kind)
	if name != "" {
		what = fmt.Sprintf("%s %q", kind, name)
	}
	rng := again.DefRange()
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Duplicate " + kind + " block",
		Detail:   fmt.Sprintf("A %s is already defined at %s:%d.", what, first.DefRange().Filename, first.DefRange().Start.Line),
		Subject:  &rng,
	}
}

func firstBlock(bs []*hclsyntax.Block) *hclsyntax.Block {
	if len(bs) == 0 {
		return nil
	}
	return bs[0]
}
