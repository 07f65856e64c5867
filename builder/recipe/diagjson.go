package recipe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// JSON diagnostics follow the shape of `terraform validate -json`, so
// editors and CI annotators that read one read ours.

// JSONFormatVersion is the format_version of the output, the version of
// terraform's format it follows.
const JSONFormatVersion = "1.0"

// JSONResult is the whole output of `builder validate --json`.
type JSONResult struct {
	FormatVersion string           `json:"format_version"`
	Valid         bool             `json:"valid"`
	ErrorCount    int              `json:"error_count"`
	WarningCount  int              `json:"warning_count"`
	Diagnostics   []JSONDiagnostic `json:"diagnostics"`
}

// JSONDiagnostic is one diagnostic.
type JSONDiagnostic struct {
	Severity string       `json:"severity"`
	Summary  string       `json:"summary"`
	Detail   string       `json:"detail,omitempty"`
	Range    *JSONRange   `json:"range,omitempty"`
	Snippet  *JSONSnippet `json:"snippet,omitempty"`
}

// JSONRange is a source range; lines and columns count from 1, bytes from 0.
type JSONRange struct {
	Filename string  `json:"filename"`
	Start    JSONPos `json:"start"`
	End      JSONPos `json:"end"`
}

// JSONPos is one position.
type JSONPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// JSONSnippet is the source around a diagnostic: the whole lines its
// range covers (without line terminators, lines joined by "\n"), with the
// highlight as byte offsets into Code.
type JSONSnippet struct {
	// Context is the header of the top-level block the diagnostic is in,
	// as `variable "release"`; null when there is none.
	Context              *string `json:"context"`
	Code                 string  `json:"code"`
	StartLine            int     `json:"start_line"`
	HighlightStartOffset int     `json:"highlight_start_offset"`
	HighlightEndOffset   int     `json:"highlight_end_offset"`
	// Values describes the variables of the expression the diagnostic is
	// about, as evaluated; never null. Sensitive values are left out.
	Values []JSONExpressionValue `json:"values"`
}

// JSONExpressionValue is one variable of a diagnostic's expression and
// what it was, as {"traversal": "var.release", "statement": "is \"bookworm\""}.
type JSONExpressionValue struct {
	Traversal string `json:"traversal"`
	Statement string `json:"statement"`
}

// NewJSONResult converts diagnostics, taking snippets from files.
func NewJSONResult(diags hcl.Diagnostics, files map[string]*hcl.File) JSONResult {
	res := JSONResult{FormatVersion: JSONFormatVersion, Diagnostics: []JSONDiagnostic{}}
	for _, d := range diags {
		if d == nil {
			continue
		}
		jd := JSONDiagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			jd.Severity = "warning"
			res.WarningCount++
		} else {
			res.ErrorCount++
		}
		if d.Subject != nil {
			r := *d.Subject
			jd.Range = &JSONRange{
				Filename: r.Filename,
				Start:    JSONPos{Line: r.Start.Line, Column: r.Start.Column, Byte: r.Start.Byte},
				End:      JSONPos{Line: r.End.Line, Column: r.End.Column, Byte: r.End.Byte},
			}
			if f := files[r.Filename]; f != nil && f.Bytes != nil {
				jd.Snippet = snippet(f.Bytes, r)
				jd.Snippet.Context = contextString(f, r.Start.Byte)
				jd.Snippet.Values = expressionValues(d.Expression, d.EvalContext)
			}
		}
		res.Diagnostics = append(res.Diagnostics, jd)
	}
	res.Valid = res.ErrorCount == 0
	return res
}

// WriteJSON writes diagnostics as one indented JSON document.
func WriteJSON(w io.Writer, diags hcl.Diagnostics, files map[string]*hcl.File) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(NewJSONResult(diags, files))
}

// snippet returns the whole lines of src the range covers, each without
// its "\n" or "\r\n", with the highlight as byte offsets into them. Ranges
// outside src are clamped to it.
func snippet(src []byte, r hcl.Range) *JSONSnippet {
	start := min(max(r.Start.Byte, 0), len(src))
	end := min(max(r.End.Byte, start), len(src))

	// The snippet runs from the start of start's line to the end of end's
	// line. A range ending just after a "\n" ends on the line that "\n"
	// terminates: the next line is not part of it.
	codeStart := bytes.LastIndexByte(src[:start], '\n') + 1
	last := end
	if end > start && src[end-1] == '\n' {
		last = end - 1
	}
	codeEnd := len(src)
	if i := bytes.IndexByte(src[last:], '\n'); i >= 0 {
		codeEnd = last + i
	}

	// Drop each line's trailing "\r", remembering where, so that raw
	// offsets can be mapped to offsets in code.
	var code bytes.Buffer
	var dropped []int // raw offsets of the dropped "\r" bytes, ascending
	for lineStart := codeStart; ; {
		lineEnd := codeEnd
		if i := bytes.IndexByte(src[lineStart:codeEnd], '\n'); i >= 0 {
			lineEnd = lineStart + i
		}
		line := src[lineStart:lineEnd]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
			dropped = append(dropped, lineEnd-1)
		}
		code.Write(line)
		if lineEnd == codeEnd {
			break
		}
		code.WriteByte('\n')
		lineStart = lineEnd + 1
	}
	offset := func(raw int) int {
		n := sort.SearchInts(dropped, raw) // dropped bytes before raw
		return min(max(raw-codeStart-n, 0), code.Len())
	}
	return &JSONSnippet{
		Code:                 code.String(),
		StartLine:            1 + bytes.Count(src[:codeStart], []byte{'\n'}),
		HighlightStartOffset: offset(start),
		HighlightEndOffset:   offset(end),
		Values:               []JSONExpressionValue{},
	}
}

// contextString is what hcl's text writer shows after "in": the header of
// the top-level block around offset, for files parsed by hclparse.
func contextString(f *hcl.File, offset int) *string {
	cs, ok := f.Nav.(interface{ ContextString(offset int) string })
	if !ok {
		return nil
	}
	if s := cs.ContextString(offset); s != "" {
		return &s
	}
	return nil
}

// expressionValues describes the values the traversals of expr had in
// ctx, as hcl's text writer does after "with" and terraform in "values".
// Unknown values, traversals that fail and marked values are left out:
// marks carry sensitivity, and a sensitive value must never be printed.
func expressionValues(expr hcl.Expression, ctx *hcl.EvalContext) []JSONExpressionValue {
	values := []JSONExpressionValue{}
	if expr == nil || ctx == nil {
		return values
	}
	seen := map[string]bool{}
	for _, tr := range expr.Variables() {
		val, diags := tr.TraverseAbs(ctx)
		if diags.HasErrors() || !val.IsKnown() || val.ContainsMarked() {
			continue
		}
		name := traversalString(tr)
		if seen[name] {
			continue
		}
		seen[name] = true
		values = append(values, JSONExpressionValue{Traversal: name, Statement: "is " + valueString(val)})
	}
	sort.Slice(values, func(i, j int) bool { return values[i].Traversal < values[j].Traversal })
	return values
}

// traversalString renders a traversal as hcl's diagnostic text writer
// does: var.x, local.list[0], with "..." for non-primitive keys.
func traversalString(tr hcl.Traversal) string {
	var buf bytes.Buffer
	for _, step := range tr {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			buf.WriteString(s.Name)
		case hcl.TraverseAttr:
			buf.WriteByte('.')
			buf.WriteString(s.Name)
		case hcl.TraverseIndex:
			buf.WriteByte('[')
			if s.Key.Type().IsPrimitiveType() && !s.Key.IsMarked() {
				buf.WriteString(valueString(s.Key))
			} else {
				buf.WriteString("...")
			}
			buf.WriteByte(']')
		}
	}
	return buf.String()
}

// valueString is hcl's concise rendering of a value for diagnostics:
// primitives in full, collections and objects by type and size only.
// val must not be marked.
func valueString(val cty.Value) string {
	ty := val.Type()
	switch {
	case val.IsNull():
		return "null"
	case !val.IsKnown():
		return "(not yet known)"
	case ty == cty.Bool:
		if val.True() {
			return "true"
		}
		return "false"
	case ty == cty.Number:
		return val.AsBigFloat().Text('g', 10)
	case ty == cty.String:
		return fmt.Sprintf("%q", val.AsString())
	case ty.IsCollectionType() || ty.IsTupleType():
		switch l := val.LengthInt(); l {
		case 0:
			return "empty " + ty.FriendlyName()
		case 1:
			return ty.FriendlyName() + " with 1 element"
		default:
			return fmt.Sprintf("%s with %d elements", ty.FriendlyName(), l)
		}
	case ty.IsObjectType():
		atys := ty.AttributeTypes()
		switch len(atys) {
		case 0:
			return "object with no attributes"
		case 1:
			for name := range atys {
				return fmt.Sprintf("object with 1 attribute %q", name)
			}
		}
		return fmt.Sprintf("object with %d attributes", len(atys))
	default:
		return ty.FriendlyName()
	}
}
