package recipe

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/builder-images/builder/builder/template"
)

// template decodes a template block; its source file is registered with
// the loader so diagnostics inside it get snippets.
func (s *stepDecoder) template(b *hclsyntax.Block, l *Loader) (Template, bool) {
	s.disabled = s.blockDisabled(b)
	d := decodeAttrs(b, s.ctx, s.diags, blockSchemas["template"].attrs...)
	s.targetPath(b)
	t := Template{Template: template.Template{
		Path:       b.Labels[0],
		Content:    d.str("content", ""),
		When:       d.strList("when", []string{"create", "copy"}),
		CreateOnly: d.boolean("create_only", false),
		Properties: d.strMap("properties"),
		UID:        d.str("uid", ""),
		GID:        d.str("gid", ""),
		Enabled:    d.boolean("enabled", true),
		Range:      b.DefRange(),
	}}
	t.enabledFailed = d.failed["enabled"]
	switch s.exactlyOne(b, d, "source", "content", "Missing template content",
		"A template block needs exactly one of source (a .tpl file next to the recipe) or content (the template text).") {
	case "":
		return t, false
	case "source":
		var ok bool
		if t.Source, ok = s.hostSource(d, false); !ok {
			// A disabled template is listed, unread.
			t.Name = d.str("name", defaultTemplateName(t))
			return t, s.disabled && t.Source != ""
		}
		body, err := os.ReadFile(t.Source)
		if err != nil {
			d.errorf("source", "Unreadable template", "Reading %s: %s.", t.Source, fsErr(err))
			return t, false
		}
		t.Content = string(body)
		l.addSource(t.Source, body)
	}
	t.Name = d.str("name", defaultTemplateName(t))
	if msg := checkFileLabel("template name", t.Name); msg != "" {
		d.errorf("name", "Invalid template name", "The %s LXD looks templates up by bare name in templates/.", msg)
	}

	if len(t.When) == 0 && d.has("when") {
		d.errorf("when", "Empty template triggers", "when lists the events that render the template (%s); an empty list means the template never renders.", strings.Join(template.Triggers, ", "))
	}
	for i, w := range t.When {
		if !slices.Contains(template.Triggers, w) {
			d.elementErrorf("when", i, "Unknown template trigger",
				"%q is not a template trigger%s; LXD renders templates on %s.", w, suggest(w, template.Triggers), strings.Join(template.Triggers, ", "))
		}
	}
	for _, id := range []string{"uid", "gid"} {
		v := d.str(id, "")
		switch {
		case v != "" && strings.Trim(v, "0123456789") != "":
			d.errorf(id, "Invalid "+id, "%s must be a numeric id, not %q: the daemon applies it without looking names up.", id, v)
		case v != "":
			if msg := checkID(id, v); msg != "" {
				d.errorf(id, "Invalid "+id, "The %s", msg)
			}
		}
	}
	if mode, ok := d.mode("mode"); ok {
		t.Mode = fmt.Sprintf("%04o", mode)
	}
	if se := checkTemplateSyntax(t.Content); se != nil {
		*s.diags = append(*s.diags, templateDiag(t, d, se))
	}
	t.Sensitive = d.sensitiveNames()
	if t.Enabled {
		d.checkPublic(fmt.Sprintf("template %q", t.Path), publicTemplateAttrs, "a template's settings are published in the image's metadata.yaml")
	}
	return t, true
}

func defaultTemplateName(t Template) string {
	if t.Source != "" {
		return filepath.Base(t.Source)
	}
	return path.Base(t.Path) + ".tpl"
}

// checkTemplateSyntax parses a template with template.Parse, which the
// image stage's test render uses too: the way LXD will render it, with
// the tags LXD bans refused, refusing what could make the renderer run
// without bound.
func checkTemplateSyntax(content string) *template.SyntaxError {
	_, err := template.Parse(content)
	if err == nil {
		return nil
	}
	var se *template.SyntaxError
	if !errors.As(err, &se) {
		se = &template.SyntaxError{Err: err}
	}
	return se
}

// templateDiag points at the error inside the template file when the
// template has one, and at the content attribute for inline templates.
func templateDiag(t Template, d *attrDecoder, se *template.SyntaxError) *hcl.Diagnostic {
	line, col := se.Line, se.Column
	where := fmt.Sprintf("The template for %s (block at %s:%d)", t.Path, t.Range.Filename, t.Range.Start.Line)
	diag := &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid template",
		Detail:   fmt.Sprintf("%s does not parse: %s", where, se.Err),
	}
	switch {
	case se.BannedTag != "":
		diag.Summary = "Forbidden template tag"
		diag.Detail = fmt.Sprintf("%s uses the %s tag, which LXD and Incus refuse to render because it would read other files; put the text in this template instead. Forbidden tags: %s.",
			where, se.BannedTag, strings.Join(template.BannedTags, ", "))
	case se.Unbounded:
		diag.Summary = "Unbounded template"
		diag.Detail = fmt.Sprintf("%s is refused: %s.", where, se.Err)
	}
	if t.Source != "" && line > 0 {
		pos := hcl.Pos{Line: line, Column: max(col, 1), Byte: byteOffset(t.Content, line, col)}
		diag.Subject = &hcl.Range{Filename: t.Source, Start: pos, End: hcl.Pos{Line: line, Column: pos.Column + 1, Byte: pos.Byte + 1}}
		return diag
	}
	if line > 0 {
		diag.Detail += fmt.Sprintf(" (line %d, column %d of the template)", line, col)
	}
	rng := d.rangeOf("content")
	if t.Source != "" {
		rng = d.rangeOf("source")
	}
	diag.Subject = &rng
	return diag
}

func byteOffset(text string, line, col int) int {
	off := 0
	for i := 1; i < line; i++ {
		nl := strings.IndexByte(text[off:], '\n')
		if nl < 0 {
			return len(text)
		}
		off += nl + 1
	}
	return min(off+max(col-1, 0), len(text))
}
