package recipe

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/builder-images/builder/builder/events"
)

// EnvPrefix prefixes environment variables that set recipe variables, as
// PKR_VAR_ does for Packer.
const EnvPrefix = "BUILDER_VAR_"

type variableDecl struct {
	name       string
	block      *hclsyntax.Block
	typ        cty.Type
	defaultVal cty.Value // cty.NilVal: no default, so a value is required
	// badDefault is set when the default was reported as invalid: the
	// variable then needs no value to be reported as unset.
	badDefault  bool
	description string
	sensitive   bool
	validations []validation
}

type validation struct {
	condition hcl.Expression
	message   string
}

// assignment is one value given for a variable, and where it came from.
type assignment struct {
	value  cty.Value
	source ValueSource
	origin string
	rng    *hcl.Range // nil for values from the environment or command line
	// failed is set when the value given was in error, reported already:
	// the variable is then neither unset nor its default.
	failed bool
}

func decodeVariable(block *hclsyntax.Block, diags *hcl.Diagnostics) *variableDecl {
	decl := &variableDecl{name: block.Labels[0], block: block, typ: cty.DynamicPseudoType}
	if !hclsyntax.ValidIdentifier(decl.name) {
		*diags = append(*diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid variable name",
			Detail:   "A variable name must start with a letter or underscore and contain only letters, digits, underscores and dashes.",
			Subject:  &block.LabelRanges[0],
		})
	}
	content, moreDiags := block.Body.Content(&hcl.BodySchema{
		Attributes: attributeSchemas(blockSchemas["variable"].attrs),
		Blocks:     []hcl.BlockHeaderSchema{{Type: "validation"}},
	})
	*diags = append(*diags, moreDiags...)
	if a, ok := content.Attributes["type"]; ok {
		ty, moreDiags := typeexpr.TypeConstraint(a.Expr)
		*diags = append(*diags, moreDiags...)
		if !moreDiags.HasErrors() {
			decl.typ = ty
		}
	}
	// Descriptions, defaults and the sensitive flag are literals: Packer
	// evaluates them before any variable exists, and so do we.
	literal := newAttrDecoder(block, content.Attributes, nil, diags)
	decl.description = literal.str("description", "")
	decl.sensitive = literal.boolean("sensitive", false)
	if a, ok := content.Attributes["default"]; ok {
		val, moreDiags := a.Expr.Value(nil)
		*diags = append(*diags, moreDiags...)
		decl.badDefault = true // until converted below
		if !moreDiags.HasErrors() {
			converted, err := convert.Convert(val, decl.typ)
			if err != nil {
				rng := a.Expr.Range()
				*diags = append(*diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid default value for variable",
					Detail:   fmt.Sprintf("This default value is not compatible with the variable's type constraint: %s.", err),
					Subject:  &rng,
				})
			} else {
				decl.defaultVal, decl.badDefault = converted, false
			}
		}
	}
	for _, vb := range content.Blocks {
		decl.validations = append(decl.validations, decodeValidation(decl.name, vb, diags)...)
	}
	return decl
}

func decodeValidation(varName string, block *hcl.Block, diags *hcl.Diagnostics) []validation {
	content, moreDiags := block.Body.Content(&hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "condition", Required: true}, {Name: "error_message", Required: true}},
	})
	*diags = append(*diags, moreDiags...)
	cond, okCond := content.Attributes["condition"]
	msgAttr, okMsg := content.Attributes["error_message"]
	if !okCond || !okMsg {
		return nil
	}
	for _, tr := range cond.Expr.Variables() {
		if tr.RootName() != "var" || len(tr) < 2 || traversalAttr(tr[1]) != varName {
			rng := tr.SourceRange()
			*diags = append(*diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid variable validation condition",
				Detail:   fmt.Sprintf("The condition for variable %q may refer only to var.%s, the value being validated.", varName, varName),
				Subject:  &rng,
			})
			return nil
		}
	}
	msg, moreDiags := msgAttr.Expr.Value(nil)
	*diags = append(*diags, moreDiags...)
	if moreDiags.HasErrors() {
		return nil
	}
	if msg.Type() != cty.String || msg.IsNull() || strings.TrimSpace(msg.AsString()) == "" {
		rng := msgAttr.Expr.Range()
		*diags = append(*diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid validation error message",
			Detail:   "error_message must be a non-empty string that tells the user which values are allowed.",
			Subject:  &rng,
		})
		return nil
	}
	return []validation{{condition: cond.Expr, message: msg.AsString()}}
}

func traversalAttr(step hcl.Traverser) string {
	if a, ok := step.(hcl.TraverseAttr); ok {
		return a.Name
	}
	return ""
}

// parseVariableValue turns text from the environment or command line into
// a value: taken literally for string variables, parsed as an HCL
// expression for everything else (lists, maps, numbers), as Packer does.
// A variable without a type is a string variable unless its default says
// otherwise, again as in Packer.
func parseVariableValue(decl *variableDecl, text, origin string) (cty.Value, hcl.Diagnostics) {
	literal := decl.typ == cty.String ||
		(decl.typ == cty.DynamicPseudoType && (decl.defaultVal == cty.NilVal || decl.defaultVal.Type() == cty.String))
	if literal {
		return cty.StringVal(text), nil
	}
	shown := ", " + text + ","
	if decl.sensitive {
		shown = ""
	}
	expr, diags := hclsyntax.ParseExpression([]byte(text), origin, hcl.InitialPos)
	if diags.HasErrors() {
		return cty.NilVal, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail:   fmt.Sprintf("The value given for %q by %s is not a valid HCL expression for type %s: %s.", decl.name, origin, typeexpr.TypeString(decl.typ), diags[0].Summary),
		}}
	}
	val, diags := expr.Value(nil)
	if diags.HasErrors() {
		// hcl would point into a file named after the origin, and say
		// only "Variables may not be used here" of a bare word.
		return cty.NilVal, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail: fmt.Sprintf("The value given for %q by %s%s is not a value of type %s: values of variables that are not strings are read as HCL, such as 3, true, [\"a\", \"b\"] or {key = \"value\"}, with strings quoted.",
				decl.name, origin, shown, typeexpr.TypeString(decl.typ)),
		}}
	}
	return val, nil
}

// collectAssignments gathers values from the environment, var files and
// the command line, in increasing precedence.
func collectAssignments(decls map[string]*variableDecl, opts Options, parse func(path string) (*hcl.File, hcl.Diagnostics)) (map[string]assignment, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	assigned := map[string]assignment{}
	set := func(decl *variableDecl, text string, source ValueSource, origin string) {
		val, moreDiags := parseVariableValue(decl, text, origin)
		diags = append(diags, moreDiags...)
		assigned[decl.name] = assignment{value: val, source: source, origin: origin, failed: moreDiags.HasErrors()}
	}

	for _, kv := range opts.Environ {
		name, text, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		// Unknown BUILDER_VAR_ names are ignored: one environment often
		// serves several recipes.
		if decl, ok := decls[strings.TrimPrefix(name, EnvPrefix)]; ok {
			set(decl, text, SourceEnvironment, name)
		}
	}

	for _, path := range opts.VarFiles {
		file, moreDiags := parse(path)
		diags = append(diags, moreDiags...)
		if file == nil || moreDiags.HasErrors() {
			continue
		}
		attrs, moreDiags := file.Body.JustAttributes()
		diags = append(diags, moreDiags...)
		names := make([]string, 0, len(attrs))
		for n := range attrs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, name := range names {
			attr := attrs[name]
			if _, ok := decls[name]; !ok {
				// A warning, as in Packer: var files are often shared
				// between recipes that declare different variables.
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagWarning,
					Summary:  "Undeclared variable",
					Detail:   fmt.Sprintf("%s sets %q, but the recipe declares no such variable%s; the value is ignored.", filepath.Base(path), name, suggest(name, sortedKeys(decls))),
					Subject:  &attr.NameRange,
				})
				continue
			}
			val, moreDiags := attr.Expr.Value(nil)
			diags = append(diags, moreDiags...)
			rng := attr.Expr.Range()
			assigned[name] = assignment{value: val, source: SourceVarFile, origin: fmt.Sprintf("%s:%d", path, rng.Start.Line), rng: &rng, failed: moreDiags.HasErrors()}
		}
	}

	for _, kv := range opts.Vars {
		name, text, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid --var option",
				Detail:   fmt.Sprintf("--var %q must have the form NAME=VALUE.", kv),
			})
			continue
		}
		decl, ok := decls[name]
		if !ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Undeclared variable",
				Detail:   fmt.Sprintf("--var sets %q, but the recipe declares no variable %q%s. Declared variables: %s.", name, name, suggest(name, sortedKeys(decls)), strings.Join(sortedKeys(decls), ", ")),
			})
			continue
		}
		set(decl, text, SourceCommandLine, "--var")
	}
	return assigned, diags
}

// resolveVariable converts the winning assignment (or the default) to the
// declared type and runs the validations. A variable in error resolves to
// an unknown value so that expressions using it report nothing more.
func resolveVariable(decl *variableDecl, a assignment, hasValue bool, funcs map[string]function.Function, diags *hcl.Diagnostics) Variable {
	v := Variable{
		Name: decl.name, Description: decl.description, Type: decl.typ,
		Sensitive: decl.sensitive, Range: decl.block.DefRange(), Value: cty.DynamicVal,
	}
	switch {
	case hasValue && a.failed:
		v.Source, v.Origin = a.source, a.origin
		return v // the value's error is reported; it stays unknown
	case hasValue:
		v.Source, v.Origin = a.source, a.origin
	case decl.defaultVal != cty.NilVal:
		v.Source, v.Origin = SourceDefault, "default"
		a.value = decl.defaultVal
	case decl.badDefault:
		return v // the default's error is reported; the value stays unknown
	default:
		*diags = append(*diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unset variable",
			Detail:   fmt.Sprintf("Variable %q has no default, so a value is required: --var %s=VALUE, --var-file, or %s%s.", decl.name, decl.name, EnvPrefix, decl.name),
			Subject:  &v.Range,
		})
		return v
	}
	if decl.sensitive && a.value.IsWhollyKnown() {
		unmarked, _ := a.value.UnmarkDeep()
		v.secrets = leafTexts(unmarked)
		if d := shortSecretDiag(v, a); d != nil {
			*diags = append(*diags, d)
		}
	}
	val, err := convert.Convert(a.value, decl.typ)
	if err != nil {
		subject := a.rng
		if subject == nil {
			subject = &v.Range
		}
		*diags = append(*diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail:   fmt.Sprintf("The value for %q from %s does not match its type %s: %s.", decl.name, a.origin, typeexpr.TypeString(decl.typ), err),
			Subject:  subject,
		})
		return v
	}
	// The condition sees the value marked, so that neither hcl's
	// diagnostics nor go-cty's function errors print a sensitive value.
	checked := val
	if decl.sensitive {
		checked = val.Mark(sensitiveMark)
	}
	valid := true
	for _, rule := range decl.validations {
		ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{decl.name: checked})}, Functions: funcs}
		result, moreDiags := rule.condition.Value(ctx)
		if moreDiags.HasErrors() {
			*diags = append(*diags, moreDiags...)
			valid = false
			continue
		}
		result, _ = result.Unmark()
		if result.IsNull() || !result.IsKnown() || result.Type() != cty.Bool {
			rng := rule.condition.Range()
			*diags = append(*diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid validation result",
				Detail:   "A validation condition must produce true or false.",
				Subject:  &rng,
			})
			valid = false
			continue
		}
		if result.False() {
			// Every failing rule is reported, as Terraform does.
			condRange := rule.condition.Range()
			subject := a.rng
			if subject == nil {
				subject = &condRange
			}
			*diags = append(*diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for variable",
				Detail: fmt.Sprintf("%s\n\nvar.%s is %s (from %s), checked by the validation rule at %s:%d.",
					rule.message, decl.name, DisplayValue(val, decl.sensitive), v.Origin, condRange.Filename, condRange.Start.Line),
				Subject: subject,
			})
			valid = false
		}
	}
	if !valid {
		return v
	}
	if decl.sensitive {
		val = val.Mark(sensitiveMark)
	}
	v.Value = val
	return v
}

// shortSecretDiag warns about a sensitive value too short to be masked
// (events.MinSecretLength): masking it would garble every log line, so
// builder prints it as it is, and the recipe's author should know.
func shortSecretDiag(v Variable, a assignment) *hcl.Diagnostic {
	short := false
	for _, s := range v.secrets {
		if n := len(strings.TrimSpace(s)); n > 0 && n < events.MinSecretLength {
			short = true
		}
	}
	if !short {
		return nil
	}
	subject := a.rng
	if subject == nil {
		subject = &v.Range
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  "Sensitive value too short to mask",
		Detail: fmt.Sprintf("var.%s is sensitive, but its value (from %s) is shorter than %d characters. builder masks only values of %d characters or more, since masking shorter ones would garble its output, so a step that prints this value prints it as it is.",
			v.Name, v.Origin, events.MinSecretLength, events.MinSecretLength),
		Subject: subject,
	}
}
