package template_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/template"
)

// macroChain is n macros m0 … m(n-1), each calling the next twice: no
// recursion, but 2^n calls.
func macroChain(n int) string {
	var b strings.Builder
	for i := n - 1; i >= 0; i-- {
		b.WriteString("{% macro m" + itoa(i) + "() %}")
		if i < n-1 {
			b.WriteString("{{ m" + itoa(i+1) + "() }}{{ m" + itoa(i+1) + "() }}")
		} else {
			b.WriteString("x")
		}
		b.WriteString("{% endmacro %}\n")
	}
	b.WriteString("{{ m0() }}\n")
	return b.String()
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// TestUnboundedTemplatesRefused: a template whose rendering could run
// without bound in the daemon is refused when it is parsed, before any
// render, with the position of the construct. A recursive macro
// overflows the renderer's goroutine stack, which Go cannot recover
// from: rendering it here would kill builder, and in LXD the daemon.
func TestUnboundedTemplatesRefused(t *testing.T) {
	tests := []struct {
		name, content string
		line, column  int
		want          string
	}{
		{"recursive macro", "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", 1, 19, "macro f calls itself (f → f)"},
		{"mutual recursion", "{% macro f() %}{{ g() }}{% endmacro %}\n{% macro g() %}\n  {{ f() }}\n{% endmacro %}\n{{ f() }}\n", 3, 6, "macro f calls itself through g (f → g → f)"},
		{"recursion in a default argument", "{% macro f(x=f()) %}{{ x }}{% endmacro %}{{ f() }}", 1, 14, "f → f"},
		{"recursion from a nested macro", "{% macro outer() %}{% macro inner() %}{{ outer() }}{% endmacro %}{{ inner() }}{% endmacro %}{{ outer() }}", 1, 42, "outer → inner → outer"},
		{"recursion behind a condition", "{% macro count(n) %}{% if n %}{{ count(n) }}{% endif %}{% endmacro %}", 1, 34, "count → count"},
		// pongo2 calls a function it finds, parentheses or not.
		{"recursion without parentheses", "{% macro f() %}{{ f }}{% endmacro %}{{ f }}", 1, 19, "f → f"},
		{"recursion through set", "{% macro f() %}{% set g = f %}{% endmacro %}{{ f() }}", 1, 27, "f → f"},
		{"exponential calls", macroChain(20), 14, 30, "more than 10000 macro calls"},
		{"parentheses nested deeply", "{{ " + strings.Repeat("(", 2000) + "1" + strings.Repeat(")", 2000) + " }}", 1, 1, "tokens"},
		{"power chain", "{{ 1" + strings.Repeat("^1", 2000) + " }}", 1, 1, "tokens"},
		{"blocks nested deeply", strings.Repeat("{% if 1 %}", 300) + strings.Repeat("{% endif %}", 300), 1, 1001, "nested more than 100 deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl := template.Template{Path: "/etc/motd", Name: "motd.tpl", Content: tt.content, When: []string{"create"}, Enabled: true}
			err := template.Check(tpl)
			var te *template.Error
			if !errors.As(err, &te) {
				t.Fatalf("error %v (%T), want a *Error", err, err)
			}
			if te.InstanceType != "" {
				t.Errorf("refused when rendering, want when parsing: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if te.Line != tt.line || te.Column != tt.column {
				t.Errorf("error at %d:%d, want %d:%d (%v)", te.Line, te.Column, tt.line, tt.column, err)
			}
			var se *template.SyntaxError
			if !errors.As(err, &se) || !se.Unbounded {
				t.Errorf("error %v does not say the template is unbounded", err)
			}
		})
	}
}

// TestBoundedTemplatesAccepted: what looks like the refused constructs
// but is not stays accepted.
func TestBoundedTemplatesAccepted(t *testing.T) {
	for name, content := range map[string]string{
		"macros calling macros":    "{% macro a(x) %}<{{ x }}>{% endmacro %}{% macro b() %}{{ a(1) }}{{ a(2) }}{% endmacro %}{{ b() }}{{ b() }}{{ a(3) }}\n",
		"a macro's name in text":   "{% macro f() %}f(){% endmacro %}f() {{ \"f()\" }} {{ f() }}\n",
		"verbatim":                 "{% verbatim %}{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}{% endverbatim %}\n",
		"comment":                  "{# {{ f() }} #}{% macro f() %}x{% endmacro %}{{ f() }}\n",
		"attribute named as macro": "{% macro name() %}x{% endmacro %}{{ container.name }}{{ name() }}\n",
		"parameter named as macro": "{% macro f(f) %}{{ f }}{% endmacro %}{{ f(1) }}\n",
		"filter named as macro":    "{% macro lower() %}x{% endmacro %}{{ \"A\"|lower }}{{ lower() }}\n",
		"chain of 13":              macroChain(13),
		"nesting of 50":            "{{ " + strings.Repeat("(", 50) + "1" + strings.Repeat(")", 50) + " }}" + strings.Repeat("{% if 1 %}", 50) + strings.Repeat("{% endif %}", 50),
	} {
		t.Run(name, func(t *testing.T) {
			tpl := template.Template{Path: "/etc/motd", Name: "motd.tpl", Content: content, When: []string{"create"}, Enabled: true}
			if err := template.Check(tpl); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTemplateRenderOutputBound: a template that renders more than
// MaxOutput for an instance is refused by the test render.
func TestTemplateRenderOutputBound(t *testing.T) {
	tpl := template.Template{Path: "/etc/big", Name: "big.tpl", When: []string{"create"}, Enabled: true,
		Content: "{% for i in \"x\"|ljust:3000|make_list %}{{ \"y\"|ljust:3000 }}\n{% endfor %}"}
	err := template.Check(tpl)
	var te *template.Error
	if !errors.As(err, &te) || te.InstanceType == "" || !strings.Contains(err.Error(), "more than 4 MiB") {
		t.Fatalf("error %v, want a render error about the output's size", err)
	}
	if _, err := template.Render(tpl, template.SampleInstances("x86_64", nil)[0], "create"); err == nil {
		t.Error("Render rendered it")
	}
}

// FuzzParse: no text makes the parser or the checks panic
// or crash.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"{% macro f(x=1, y) %}{{ f }}{% endmacro %}",
		"{{ \"a\\\"b\" }}{# c #}{% verbatim %}{{{% endverbatim %}",
		"{% macro 1f() %}{{ 1f() }}{% endmacro %}",
		"{{- x -}}{%- if y -%}{%- endif -%}",
		macroChain(4),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		_, _ = template.Parse(body)
	})
}
