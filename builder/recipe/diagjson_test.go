package recipe

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// diagRecipe has one mistake: the unknown argument colour on line 9,
// columns 3 to 9. The lines before it make CRLF offsets differ from LF
// ones by 8 bytes.
const diagRecipe = `# A recipe with an unknown argument.
variable "release" {
  default = "bookworm"
}

image {
  distribution = "debian"
  release      = var.release
  colour       = "red"
}

bootstrap "debootstrap" {}
`

func TestJSONSnippetOffsets(t *testing.T) {
	for _, tt := range []struct {
		name, eol string
	}{
		{"LF", "\n"},
		{"CRLF", "\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.hcl")
			src := strings.ReplaceAll(diagRecipe, "\n", tt.eol)
			if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			l := NewLoader()
			_, diags := l.Load(path, Options{HostArch: "amd64"})
			var found []JSONDiagnostic
			for _, d := range NewJSONResult(diags, l.Files()).Diagnostics {
				if d.Summary == "Unsupported argument" {
					found = append(found, d)
				}
			}
			if len(found) != 1 {
				t.Fatalf("got %d Unsupported argument diagnostics, want 1; all: %v", len(found), diags)
			}
			d := found[0]
			if d.Range == nil || d.Range.Start.Line != 9 || d.Range.Start.Column != 3 {
				t.Fatalf("range = %+v, want line 9 column 3", d.Range)
			}
			// The range really is 8 bytes further on with CRLF.
			wantByte := strings.Index(diagRecipe, "colour")
			if tt.eol == "\r\n" {
				wantByte += 8
			}
			if d.Range.Start.Byte != wantByte {
				t.Fatalf("range starts at byte %d, want %d", d.Range.Start.Byte, wantByte)
			}
			s := d.Snippet
			if s == nil {
				t.Fatal("no snippet")
			}
			want := JSONSnippet{
				Code:                 `  colour       = "red"`,
				StartLine:            9,
				HighlightStartOffset: 2,
				HighlightEndOffset:   8,
			}
			if s.Code != want.Code || s.StartLine != want.StartLine ||
				s.HighlightStartOffset != want.HighlightStartOffset || s.HighlightEndOffset != want.HighlightEndOffset {
				t.Errorf("snippet = code %q, start line %d, highlight %d-%d; want code %q, start line %d, highlight %d-%d",
					s.Code, s.StartLine, s.HighlightStartOffset, s.HighlightEndOffset,
					want.Code, want.StartLine, want.HighlightStartOffset, want.HighlightEndOffset)
			}
			if got := s.Code[s.HighlightStartOffset:s.HighlightEndOffset]; got != "colour" {
				t.Errorf("highlighted %q, want %q", got, "colour")
			}
			if s.Context == nil || *s.Context != "image" {
				t.Errorf("context = %v, want image", s.Context)
			}
		})
	}
}

func TestJSONSnippetEdges(t *testing.T) {
	rng := func(start, end int) hcl.Range {
		return hcl.Range{Filename: "f", Start: hcl.Pos{Line: 1, Column: 1, Byte: start}, End: hcl.Pos{Line: 1, Column: 1, Byte: end}}
	}
	const crlf = "a = 1\r\nbb = [\r\n  2,\r\n]\r\nc = 3\r"
	tests := []struct {
		name       string
		src        string
		r          hcl.Range
		code       string
		line       int
		start, end int
	}{
		{"multi-line CRLF", crlf, rng(12, 24), "bb = [\n  2,\n]", 2, 5, 13},
		{"ends after newline", "a = 1\nb = 2\nc = 3\n", rng(6, 12), "b = 2", 2, 0, 5},
		{"empty at line end", "a = 1\r\nb = 2\r\n", rng(5, 5), "a = 1", 1, 5, 5},
		{"on the dropped CR", "a = 1\r\nb = 2\r\n", rng(5, 6), "a = 1", 1, 5, 5},
		{"last line without newline, CR at EOF", crlf, rng(len(crlf)-6, len(crlf)), "c = 3", 5, 0, 5},
		{"past the end", "a = 1\nb = 2", rng(100, 200), "b = 2", 2, 5, 5},
		{"negative", "a = 1\nb = 2", rng(-5, -1), "a = 1", 1, 0, 0},
		{"end before start", "a = 1\nb = 2", rng(8, 2), "b = 2", 2, 2, 2},
		{"empty source", "", rng(3, 4), "", 1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := snippet([]byte(tt.src), tt.r)
			if s.Code != tt.code || s.StartLine != tt.line || s.HighlightStartOffset != tt.start || s.HighlightEndOffset != tt.end {
				t.Errorf("got code %q, line %d, highlight %d-%d; want %q, %d, %d-%d",
					s.Code, s.StartLine, s.HighlightStartOffset, s.HighlightEndOffset, tt.code, tt.line, tt.start, tt.end)
			}
			if s.Values == nil {
				t.Error("values is nil, want an empty array")
			}
		})
	}
}

func TestJSONValuesLeaveOutSensitive(t *testing.T) {
	src := []byte(`name = "${var.release}-${var.password}-${local.token.id}-${length(var.mirrors)}-${var.serial}-${var.debug}-${var.nothing}-${var.password}-${var.undeclared}"` + "\n")
	expr, diags := hclsyntax.ParseExpression(src[len("name = "):], "v.hcl", hcl.Pos{Line: 1, Column: 8, Byte: len("name = ")})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"var": cty.ObjectVal(map[string]cty.Value{
			"release":  cty.StringVal("bookworm"),
			"password": cty.StringVal("hunter2").Mark("sensitive"),
			"mirrors":  cty.ListVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")}),
			"serial":   cty.NumberIntVal(42),
			"debug":    cty.True,
			"nothing":  cty.NullVal(cty.String),
			"later":    cty.UnknownVal(cty.String),
		}),
		// A marked object: every attribute taken from it is marked too.
		"local": cty.ObjectVal(map[string]cty.Value{
			"token": cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal("s3cr3t")}),
		}).Mark("sensitive"),
	}}
	diag := &hcl.Diagnostic{
		Severity:    hcl.DiagError,
		Summary:     "Invalid name",
		Subject:     expr.Range().Ptr(),
		Expression:  expr,
		EvalContext: ctx,
	}
	files := map[string]*hcl.File{"v.hcl": {Bytes: src}}
	var out bytes.Buffer
	if err := WriteJSON(&out, hcl.Diagnostics{diag}, files); err != nil {
		t.Fatal(err)
	}
	// The snippet's code shows the expression, never the values.
	for _, secret := range []string{"hunter2", "s3cr3t"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("output contains %q:\n%s", secret, out.String())
		}
	}
	got := NewJSONResult(hcl.Diagnostics{diag}, files).Diagnostics[0].Snippet.Values
	want := []JSONExpressionValue{
		{"var.debug", "is true"},
		{"var.mirrors", "is list of string with 2 elements"},
		{"var.nothing", "is null"},
		{"var.release", `is "bookworm"`},
		{"var.serial", "is 42"},
	}
	if len(got) != len(want) {
		t.Fatalf("values = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("values[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestJSONShape(t *testing.T) {
	src := []byte("variable \"release\" {\n  default = 1\n}\n\ntop = 2\n")
	file, diags := hclparse.NewParser().ParseHCL(src, "c.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	at := func(text string) *hcl.Range {
		i := bytes.Index(src, []byte(text))
		return &hcl.Range{Filename: "c.hcl", Start: hcl.Pos{Line: 1, Column: 1, Byte: i}, End: hcl.Pos{Line: 1, Column: 1, Byte: i + len(text)}}
	}
	diags = hcl.Diagnostics{
		{Severity: hcl.DiagError, Summary: "in a block", Subject: at("default")},
		{Severity: hcl.DiagWarning, Summary: "at the top level", Subject: at("top")},
		{Severity: hcl.DiagError, Summary: "no parsed form", Subject: &hcl.Range{Filename: "raw.tpl"}},
		{Severity: hcl.DiagError, Summary: "no source"},
	}
	files := map[string]*hcl.File{"c.hcl": file, "raw.tpl": {Bytes: []byte("{{ x }}\n")}}
	var out bytes.Buffer
	if err := WriteJSON(&out, diags, files); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		FormatVersion *string `json:"format_version"`
		Valid         bool    `json:"valid"`
		ErrorCount    int     `json:"error_count"`
		WarningCount  int     `json:"warning_count"`
		Diagnostics   []struct {
			Severity string                     `json:"severity"`
			Snippet  map[string]json.RawMessage `json:"snippet"`
		} `json:"diagnostics"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if doc.FormatVersion == nil || *doc.FormatVersion != "1.0" || doc.Valid || doc.ErrorCount != 3 || doc.WarningCount != 1 || len(doc.Diagnostics) != 4 {
		t.Fatalf("unexpected document:\n%s", out.String())
	}
	wantContext := []string{`"variable \"release\""`, "null", "null"}
	for i, want := range wantContext {
		s := doc.Diagnostics[i].Snippet
		if s == nil {
			t.Errorf("diagnostic %d has no snippet", i)
			continue
		}
		if got, ok := s["context"]; !ok || string(got) != want {
			t.Errorf("diagnostic %d: context = %s (present %v), want %s", i, got, ok, want)
		}
		if got := string(s["values"]); got != "[]" {
			t.Errorf("diagnostic %d: values = %s, want []", i, got)
		}
	}
	if doc.Diagnostics[3].Snippet != nil {
		t.Errorf("a diagnostic without a range has a snippet: %v", doc.Diagnostics[3].Snippet)
	}
}
