package recipe

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/packages"
	"github.com/builder-images/builder/builder/steps"
)

// checkPlan makes the checks that need more than one block. Only enabled
// blocks take part: mutually exclusive variants may reuse names and paths.
func checkPlan(p *Plan, body *hclsyntax.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	diags = append(diags, checkBootstrapCount(p, body)...)

	type seen struct {
		kind string
		rng  hcl.Range
	}
	firstSeen := func(index map[string]seen, key, kind string, rng hcl.Range, summary, what string) {
		if prev, dup := index[key]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  summary,
				Detail:   fmt.Sprintf("%s is already used by the %s block at %s:%d; only one enabled block may use it.", what, prev.kind, prev.rng.Filename, prev.rng.Start.Line),
				Subject:  &rng,
			})
			return
		}
		index[key] = seen{kind: kind, rng: rng}
	}

	targets, runs, repos := map[string]seen{}, map[string]seen{}, map[string]seen{}
	for _, s := range stepsInRecipeOrder(p) {
		if !s.Enabled || s.enabledFailed {
			continue
		}
		switch a := s.Action.(type) {
		case *steps.File:
			firstSeen(targets, path.Clean(a.Path), s.Kind, s.Range, "Duplicate target path", pathWhat("The path", a.Path))
		case *steps.Copy:
			firstSeen(targets, path.Clean(a.Path), s.Kind, s.Range, "Duplicate target path", pathWhat("The path", a.Path))
		case *steps.Run:
			firstSeen(runs, a.Name, s.Kind, s.Range, "Duplicate run name", fmt.Sprintf("The run name %q", a.Name))
		case *packages.Repository:
			firstSeen(repos, a.Name, s.Kind, s.Range, "Duplicate repository name", fmt.Sprintf("The repository name %q", a.Name))
		}
	}

	paths, names := map[string]seen{}, map[string]Template{}
	for _, t := range p.Templates {
		if !t.Enabled || t.enabledFailed {
			continue
		}
		firstSeen(paths, path.Clean(t.Path), "template", t.Range, "Duplicate template path", pathWhat("The template path", t.Path))
		if prev, dup := names[t.Name]; dup && prev.Content != t.Content {
			rng := t.Range
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate template name",
				Detail: fmt.Sprintf("templates/%s already holds a different template, from the block at %s:%d; set name = \"…\" on one of them.",
					t.Name, prev.Range.Filename, prev.Range.Start.Line),
				Subject: &rng,
			})
			continue
		}
		names[t.Name] = t
	}
	return diags
}

// pathWhat names a target path, with its clean form when it is written
// otherwise, since paths are compared clean.
func pathWhat(what, p string) string {
	if clean := path.Clean(p); clean != p {
		return fmt.Sprintf("%s %s (that is, %s)", what, p, clean)
	}
	return fmt.Sprintf("%s %s", what, p)
}

// stepsInRecipeOrder returns the steps in the order of their blocks in
// the recipe, so that of two blocks in conflict the later one is reported
// whatever their stages.
func stepsInRecipeOrder(p *Plan) []Step {
	steps := append([]Step(nil), p.Steps...)
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].Range.Start.Byte < steps[j].Range.Start.Byte })
	return steps
}

func checkBootstrapCount(p *Plan, body *hclsyntax.Body) hcl.Diagnostics {
	var enabled, all []Step
	guessed := false
	for _, s := range p.Steps {
		if s.Stage == StageBootstrap {
			all = append(all, s)
			guessed = guessed || s.enabledFailed
			if s.Enabled && !s.enabledFailed {
				enabled = append(enabled, s)
			}
		}
	}
	switch {
	case len(enabled) == 1:
		return nil
	case len(enabled) == 0 && guessed:
		return nil // an enabled condition is in error, reported already
	case len(enabled) > 1:
		rng := enabled[1].Range
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "More than one bootstrap",
			Detail:   fmt.Sprintf("The bootstrap block at %s:%d is enabled too; exactly one bootstrap block may be enabled, so give the others enabled = <condition>.", enabled[0].Range.Filename, enabled[0].Range.Start.Line),
			Subject:  &rng,
		}}
	case hasBlock(body, "bootstrap") && len(all) == 0:
		return nil // the bootstrap blocks had errors, reported already
	case len(all) > 0:
		rng := all[0].Range
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "No bootstrap enabled",
			Detail:   "Every bootstrap block is disabled by its enabled condition with these variable values, so nothing would create the root filesystem.",
			Subject:  &rng,
		}}
	default:
		rng := hcl.Range{Filename: body.SrcRange.Filename, Start: hcl.InitialPos, End: hcl.InitialPos}
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Missing bootstrap block",
			Detail:   fmt.Sprintf("A recipe needs a bootstrap block that creates the root filesystem, such as bootstrap \"debootstrap\" { … }. Backends: %s.", strings.Join(bootstrap.Names(), ", ")),
			Subject:  &rng,
		}}
	}
}

func hasBlock(body *hclsyntax.Body, kind string) bool {
	for _, b := range body.Blocks {
		if b.Type == kind {
			return true
		}
	}
	return false
}
