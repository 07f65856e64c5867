package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/builder-images/builder/builder/recipe"
	"github.com/builder-images/builder/builder/step"
)

type inspectOptions struct {
	recipeOptions
	json bool
}

func (a *app) newInspectCommand() *cobra.Command {
	opts := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect RECIPE",
		Short: "Show a recipe's variables, steps and output as they resolve",
		Long: `Inspect evaluates a recipe and prints what a build would do: every
variable with its value and where the value came from, the locals, the
image, the steps in execution order with their stage, enabled state and
recipe position, the LXD templates, the tests builder test runs in the
booted image, and the outputs. A recipe with
outputs for containers and virtual machines is evaluated for each
(build.type "container" and "vm"): a step, template or local that
applies to one of them only is marked [container] or [vm]. Sensitive
values are masked.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runInspect(opts, args[0])
		},
	}
	opts.AddFlags(cmd.Flags())
	cmd.Flags().BoolVar(&opts.json, "json", false, "print JSON instead of text")
	a.addRecipeCompletion(cmd)
	return cmd
}

func (a *app) runInspect(opts *inspectOptions, path string) error {
	plans, diags, loader := opts.loadEach(a, path)
	if err := a.writeDiagnostics(diags, loader.Files()); err != nil {
		return err
	}
	if diags.HasErrors() {
		return &exitError{code: exitFailure, silent: true}
	}
	view, err := newInspectView(plans)
	if err != nil {
		return err
	}
	if opts.json {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(view)
	}
	return view.writeText(a.stdout)
}

// inspectView is the stable, documented shape of `inspect --json`.
type inspectView struct {
	Recipe      string            `json:"recipe"`
	Variables   []inspectValue    `json:"variables"`
	Locals      []inspectValue    `json:"locals"`
	Image       inspectImage      `json:"image"`
	Environment map[string]string `json:"environment"`
	Steps       []inspectStep     `json:"steps"`
	Templates   []inspectTemplate `json:"templates"`
	Tests       []inspectTest     `json:"tests"`
	// Output is the first instance type's output, Outputs every one.
	Output  inspectOutput   `json:"output"`
	Outputs []inspectOutput `json:"outputs"`
	// InstanceTypes are the build.type values the recipe was evaluated
	// with; the first one's plan gives what does not say otherwise.
	InstanceTypes []string `json:"instance_types"`
	// Jobs are the matrix's, by name (none without a matrix block).
	Jobs []string `json:"jobs,omitempty"`
}

type inspectValue struct {
	Name        string          `json:"name"`
	Type        string          `json:"type,omitempty"`
	Value       json.RawMessage `json:"value"`
	Sensitive   bool            `json:"sensitive"`
	Source      string          `json:"source,omitempty"`
	Origin      string          `json:"origin,omitempty"`
	Description string          `json:"description,omitempty"`
	// InstanceType is set on a local whose value depends on build.type:
	// it is listed once for each.
	InstanceType string `json:"instance_type,omitempty"`
	Position     string `json:"position"`
	display      string
}

type inspectImage struct {
	Name            string            `json:"name"`
	Distribution    string            `json:"distribution"`
	Release         string            `json:"release"`
	Variant         string            `json:"variant"`
	Architecture    string            `json:"architecture"`
	LXDArchitecture string            `json:"lxd_architecture"`
	Description     string            `json:"description"`
	Expiry          string            `json:"expiry"`
	Serial          string            `json:"serial,omitempty"`
	Properties      map[string]string `json:"properties"`
	Position        string            `json:"position"`
}

type inspectStep struct {
	Index   int    `json:"index"`
	Kind    string `json:"kind"`
	Name    string `json:"name,omitempty"`
	Stage   string `json:"stage"`
	Enabled bool   `json:"enabled"`
	// InstanceTypes are those the step is enabled for.
	InstanceTypes []string       `json:"instance_types"`
	Position      string         `json:"position"`
	File          string         `json:"file"`
	Line          int            `json:"line"`
	Action        map[string]any `json:"action"`
	summary       string
}

type inspectTemplate struct {
	Path       string            `json:"path"`
	Name       string            `json:"name"`
	Source     string            `json:"source,omitempty"`
	When       []string          `json:"when"`
	CreateOnly bool              `json:"create_only"`
	Properties map[string]string `json:"properties,omitempty"`
	Enabled    bool              `json:"enabled"`
	// InstanceTypes are those the template is enabled for.
	InstanceTypes []string `json:"instance_types"`
	Position      string   `json:"position"`
}

type inspectOutput struct {
	Name         string     `json:"name,omitempty"`
	Type         string     `json:"type"`
	InstanceType string     `json:"instance_type"`
	Compression  string     `json:"compression"`
	Rootfs       string     `json:"rootfs,omitempty"`
	VM           *inspectVM `json:"vm,omitempty"`
	Position     string     `json:"position,omitempty"`
}

func position(r hcl.Range) string { return fmt.Sprintf("%s:%d", r.Filename, r.Start.Line) }

// newInspectView shows plans, the recipe evaluated for each instance
// type, as one: the first plan gives what is the same in all, and each
// step, template and local says which types it differs for.
func newInspectView(plans []*recipe.Plan) (*inspectView, error) {
	p := plans[0]
	img := masker(p.Image.Sensitive)
	v := &inspectView{
		Recipe:      p.File,
		Variables:   []inspectValue{},
		Locals:      []inspectValue{},
		Environment: map[string]string{},
		Steps:       []inspectStep{},
		Templates:   []inspectTemplate{},
		Tests:       testViews(plans),
		Image: inspectImage{
			Name: img.text("name", p.Image.Name), Distribution: img.text("distribution", p.Image.Distribution),
			Release: img.text("release", p.Image.Release), Variant: img.text("variant", p.Image.Variant),
			Architecture:    img.text("architecture", p.Image.Architecture.Distribution),
			LXDArchitecture: img.text("architecture", p.Image.Architecture.LXD),
			Description:     img.text("description", p.Image.Description),
			Expiry:          img.text("expiry", "never"), Serial: img.text("serial", p.Image.Serial),
			Properties: img.textMap("properties", p.Image.Properties),
			Position:   position(p.Image.Range),
		},
		Output: newInspectOutput(p.Output),
	}
	for _, o := range p.Outputs {
		v.Outputs = append(v.Outputs, newInspectOutput(o))
	}
	for _, plan := range plans {
		v.InstanceTypes = append(v.InstanceTypes, plan.InstanceType)
	}
	if p.Matrix != nil {
		for _, j := range p.Jobs() {
			v.Jobs = append(v.Jobs, j.Name)
		}
	}
	if p.Image.Expiry > 0 {
		v.Image.Expiry = img.text("expiry", recipe.FormatDuration(p.Image.Expiry))
	}
	for _, pv := range p.Variables {
		iv, err := valueView(pv.Name, pv.Value, pv.Sensitive, pv.Range)
		if err != nil {
			return nil, err
		}
		iv.Type, iv.Source, iv.Origin, iv.Description = typeexpr.TypeString(pv.Type), pv.Source.String(), pv.Origin, pv.Description
		v.Variables = append(v.Variables, iv)
	}
	locals, err := localViews(plans)
	if err != nil {
		return nil, err
	}
	v.Locals = locals
	for _, e := range p.Environment {
		v.Environment[e.Name] = masker(nil).maskIf(e.Sensitive, e.Value)
	}
	for i, s := range p.Steps {
		types, shown := enabledFor(plans, func(plan *recipe.Plan) (bool, bool) {
			return i < len(plan.Steps) && plan.Steps[i].Range == s.Range, i < len(plan.Steps) && plan.Steps[i].Enabled
		})
		if shown != nil {
			s = shown.Steps[i]
		}
		action, summary := maskedAction(s)
		v.Steps = append(v.Steps, inspectStep{
			Index: i + 1, Kind: s.Kind, Name: s.Name, Stage: s.Stage.String(), Enabled: len(types) > 0, InstanceTypes: types,
			Position: position(s.Range), File: s.Range.Filename, Line: s.Range.Start.Line,
			Action: action, summary: summary,
		})
	}
	for i, t := range p.Templates {
		types, shown := enabledFor(plans, func(plan *recipe.Plan) (bool, bool) {
			return i < len(plan.Templates) && plan.Templates[i].Range == t.Range, i < len(plan.Templates) && plan.Templates[i].Enabled
		})
		if shown != nil {
			t = shown.Templates[i]
		}
		m := masker(t.Sensitive)
		v.Templates = append(v.Templates, inspectTemplate{
			Path: t.Path, Name: m.text("name", t.Name), Source: m.text("source", t.Source), When: t.When,
			CreateOnly: t.CreateOnly, Properties: m.textMap("properties", t.Properties),
			Enabled: len(types) > 0, InstanceTypes: types, Position: position(t.Range),
		})
	}
	return v, nil
}

// masker masks the attributes a block computed from sensitive values.
type masker []string

func (m masker) text(attr, s string) string { return m.maskIf(slices.Contains(m, attr), s) }

func (masker) maskIf(sensitive bool, s string) string {
	if sensitive && s != "" {
		return recipe.SensitiveText
	}
	return s
}

func (m masker) textMap(attr string, in map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range in {
		out[k] = m.text(attr, v)
	}
	return out
}

func valueView(name string, val cty.Value, sensitive bool, rng hcl.Range) (inspectValue, error) {
	iv := inspectValue{Name: name, Sensitive: sensitive || val.ContainsMarked(), Position: position(rng)}
	iv.display = recipe.DisplayValue(val, iv.Sensitive)
	if iv.Sensitive {
		iv.Value = json.RawMessage(`"` + recipe.SensitiveText + `"`)
		return iv, nil
	}
	raw, err := ctyjson.Marshal(val, val.Type())
	if err != nil {
		return iv, fmt.Errorf("inspect: encoding %s: %w", name, err)
	}
	iv.Value = raw
	return iv, nil
}

// maskedAction renders a step's action as JSON keys named like the
// recipe's attributes, with the sensitive ones masked, and its summary
// from the same masked fields, so the text and JSON outputs mask alike.
// A sensitive attribute the action keeps no value of (unset, or a run
// step's source, read into its script) still shows, masked: it was set.
func maskedAction(s recipe.Step) (map[string]any, string) {
	fields := step.Mask(s.Action.Fields(), step.Masking{
		Sensitive: s.Sensitive,
		Replace:   func(step.Value) step.Value { return step.Text(recipe.SensitiveText) },
	})
	for _, attr := range s.Sensitive {
		if !slices.ContainsFunc(fields, func(f step.Field) bool { return f.Carries(attr) }) {
			fields = append(fields, step.Field{Name: attr, Value: step.Text(recipe.SensitiveText), Masked: true})
		}
	}
	out := map[string]any{}
	for _, f := range fields {
		out[f.Name] = f.Value.JSON()
	}
	return out, s.Action.Summary(fields)
}

func (v *inspectView) writeText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	p("recipe\t%s\n", v.Recipe)
	if len(v.InstanceTypes) > 1 {
		p("build.type\t%s\n", strings.Join(v.InstanceTypes, ", "))
	}
	p("\nvariables\n")
	for _, iv := range v.Variables {
		p("  %s\t= %s\t%s\t%s\n", iv.Name, iv.display, originText(iv), iv.Position)
	}
	if len(v.Locals) > 0 {
		p("\nlocals\n")
		for _, l := range v.Locals {
			p("  %s\t= %s\t%s\t%s\n", l.Name, l.display, typeMarker(l.InstanceType), l.Position)
		}
	}
	img := v.Image
	p("\nimage\t%s\t%s\n", img.Name, img.Position)
	p("  distribution\t%s\n  release\t%s\n  variant\t%s\n", img.Distribution, img.Release, img.Variant)
	p("  architecture\t%s (LXD %s)\n  description\t%s\n  expiry\t%s\n", img.Architecture, img.LXDArchitecture, img.Description, img.Expiry)
	if img.Serial != "" {
		p("  serial\t%s\n", img.Serial)
	}
	for _, k := range slices.Sorted(maps.Keys(img.Properties)) {
		p("  property %s\t%s\n", k, img.Properties[k])
	}
	if len(v.Environment) > 0 {
		p("\nenvironment\n")
		for _, k := range slices.Sorted(maps.Keys(v.Environment)) {
			p("  %s\t= %q\n", k, v.Environment[k])
		}
	}
	p("\nsteps\n")
	for _, s := range v.Steps {
		p("  %d\t%s\t%s\t%s\t%s\t%s\n", s.Index, s.Stage, blockHeader(s.Kind, s.Name), v.state(s.InstanceTypes), s.Position, s.summary)
	}
	if len(v.Templates) > 0 {
		p("\ntemplates\n")
		for _, t := range v.Templates {
			p("  %s\t%s\t%s\t%s\t%s\n", t.Path, t.Name, strings.Join(t.When, ","), v.state(t.InstanceTypes), t.Position)
		}
	}
	if len(v.Tests) > 0 {
		p("\ntests\n")
		for _, t := range v.Tests {
			p("  %s\ton %s\t%s\t%s\t%s\n", blockHeader("test", t.Name), strings.Join(t.On, ","), t.Timeout, v.state(t.InstanceTypes), t.Position)
		}
	}
	p("\n")
	for _, o := range v.Outputs {
		p("%s\t%s\t%s\n", blockHeader("output", o.Name), o.settings(), o.Position)
	}
	if len(v.Jobs) > 0 {
		p("matrix\t%d jobs: %s\n", len(v.Jobs), strings.Join(v.Jobs, ", "))
	}
	return tw.Flush()
}

// blockHeader spells a block as the recipe does: packages "cloud".
func blockHeader(kind, label string) string {
	if label == "" {
		return kind
	}
	return fmt.Sprintf("%s %q", kind, label)
}

func originText(iv inspectValue) string {
	if iv.Origin == "" || iv.Origin == iv.Source {
		return iv.Source
	}
	return iv.Source + " (" + iv.Origin + ")"
}
