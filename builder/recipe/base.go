package recipe

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/template"
)

// ApplyBase merges the metadata of the image a build starts from
// (bootstrap "image") into the plan, as the bootstrap block says:
//   - the base's templates are kept unless templates = "drop" or
//     drop_templates lists their path; a template block of the recipe
//     for the same path overrides the base's;
//   - the base's properties are kept unless properties = "drop" or
//     drop_properties lists their key; the image block's properties and
//     the ones builder derives from the image block win per key.
//
// It returns a sentence for each base template or property the recipe
// overrode, for the build's log. The plan's templates and properties are
// replaced, never changed in place: a plan copied from another shares
// them.
func (p *Plan) ApplyBase(base *bootstrap.Base) []string {
	cfg := p.Bootstrap()
	if base == nil || cfg == nil {
		return nil
	}
	var notes []string
	if cfg.BaseTemplates != "drop" {
		var n []string
		p.Templates, n = p.withBaseTemplates(base, cfg.DropTemplates)
		notes = append(notes, n...)
	}
	if cfg.BaseProperties != "drop" {
		var n []string
		p.Image.Properties, n = p.withBaseProperties(base, cfg.DropProperties)
		notes = append(notes, n...)
	}
	return notes
}

// withBaseTemplates is the plan's templates followed by the base's that
// stay. A base template whose file name a recipe template takes is
// renamed: both land in the image's templates/.
func (p *Plan) withBaseTemplates(base *bootstrap.Base, drop []string) ([]Template, []string) {
	out := slices.Clone(p.Templates)
	names := map[string]bool{}
	for _, t := range p.Templates {
		names[t.Name] = true
	}
	// The daemon writes a template to its path cleaned: /etc//hosts is
	// the /etc/hosts a drop list or a recipe template names.
	var notes []string
	for _, bt := range base.Templates {
		target := path.Clean(bt.Path)
		if slices.ContainsFunc(drop, func(d string) bool { return path.Clean(d) == target }) {
			continue
		}
		if i := slices.IndexFunc(p.Templates, func(t Template) bool { return path.Clean(t.Path) == target }); i >= 0 {
			notes = append(notes, fmt.Sprintf("the base image's template for %s is replaced by the recipe's %s", bt.Path, p.Templates[i].Describe()))
			continue
		}
		name := bt.Name
		for i := 2; names[name]; i++ {
			name = "base-" + strconv.Itoa(i) + "-" + bt.Name
		}
		names[name] = true
		out = append(out, Template{Template: template.Template{
			Path: bt.Path, Name: name, Content: bt.Content, Source: baseTemplateSource(base),
			When: slices.Clone(bt.When), CreateOnly: bt.CreateOnly, Properties: maps.Clone(bt.Properties),
			UID: bt.UID, GID: bt.GID, Mode: bt.Mode, Enabled: true,
		}})
	}
	return out, notes
}

// baseTemplateSource is the Source of the templates ApplyBase takes
// from base, which names it in errors.
func baseTemplateSource(base *bootstrap.Base) string {
	return "base image " + image.Short(base.Fingerprint)
}

// CheckBaseTemplates test-renders the base's templates that ApplyBase
// kept, as pack does every template (image.Spec.CheckTemplates): a base
// template builder would refuse to ship fails the build before a rootfs
// is built on the base, with the way to leave it out.
func (p *Plan) CheckBaseTemplates(base *bootstrap.Base) error {
	if base == nil {
		return nil
	}
	spec := p.ImageSpec()
	var kept []template.Template
	for _, t := range spec.Templates {
		if t.Source == baseTemplateSource(base) {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	spec.Templates = kept
	if err := spec.CheckTemplates(); err != nil {
		return fmt.Errorf("%w\n(drop_templates = [\"PATH\"] in the bootstrap block leaves a template of the base image out)", err)
	}
	return nil
}

// withBaseProperties is the image block's properties with the base's
// added where neither they nor a property builder derives set the key.
func (p *Plan) withBaseProperties(base *bootstrap.Base, drop []string) (map[string]string, []string) {
	out := maps.Clone(p.Image.Properties)
	if out == nil {
		out = map[string]string{}
	}
	derived := p.ImageSpec().DerivedProperties(latestCreation())
	var notes []string
	for _, k := range slices.Sorted(maps.Keys(base.Properties)) {
		v := base.Properties[k]
		mine, set := p.Image.Properties[k]
		switch {
		case slices.Contains(drop, k):
		case set && mine != v:
			notes = append(notes, fmt.Sprintf("the base image's property %s=%q is replaced by the image block's %q", k, v, mine))
		case set:
		case derived[k] != "":
			if k != "serial" && derived[k] != v {
				notes = append(notes, fmt.Sprintf("the base image's property %s=%q is replaced by the image block's %q", k, v, derived[k]))
			}
		default:
			out[k] = v
		}
	}
	return out, notes
}
