package recipe

import (
	"slices"

	"github.com/zclconf/go-cty/cty"

	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/steps"
)

// SensitiveText replaces a sensitive value wherever one would be printed.
const SensitiveText = events.SensitiveText

// Secrets lists the texts builder must never print: every string and
// number in a sensitive variable's value (kept even when the value is
// invalid), in the parts of locals computed from one, and in environment
// values computed from one. Derived texts (a local holding
// upper(var.token)) are listed because a step may print them just as
// well as the variable itself. The list is what events.Masker masks.
func (p *Plan) Secrets() []string {
	out := slices.Clone(p.carriedSecrets)
	for _, v := range p.Variables {
		out = append(out, v.secrets...)
	}
	for _, l := range p.Locals {
		out = append(out, markedTexts(l.Value)...)
	}
	for _, e := range p.Environment {
		if e.Sensitive {
			out = append(out, e.Value)
		}
	}
	for _, s := range p.Steps {
		if r, ok := s.Action.(*steps.Run); ok {
			for _, e := range r.Environment {
				if e.Sensitive {
					out = append(out, e.Value)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// markedTexts lists the strings and numbers of v that carry the
// sensitive mark, leaving out the parts of a collection that do not: a
// local map of a user name and a password masks the password only.
func markedTexts(v cty.Value) []string {
	if !v.IsWhollyKnown() {
		return nil
	}
	unmarked, paths := v.UnmarkDeepWithPaths()
	var out []string
	for _, pm := range paths {
		if _, ok := pm.Marks[sensitiveMark]; !ok {
			continue
		}
		part, err := pm.Path.Apply(unmarked)
		if err != nil {
			continue
		}
		out = append(out, leafTexts(part)...)
	}
	return out
}
