package recipe

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"

	"github.com/hashicorp/hcl/v2"
)

// JSON diagnostics follow the shape `terraform validate -json` and
// `packer validate` tooling consume, so editors and CI annotators that
// read one read ours.

// JSONResult is the whole output of `builder validate --json`.
type JSONResult struct {
	Valid        bool             `json:"valid"`
	ErrorCount   int              `json:"error_count"`
	WarningCount int              `json:"warning_count"`
	Diagnostics  []JSONDiagnostic `json:"diagnostics"`
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

// JSONSnippet is the source around a diagnostic.
type JSONSnippet struct {
	Code                 string `json:"code"`
	StartLine            int    `json:"start_line"`
	HighlightStartOffset int    `json:"highlight_start_offset"`
	HighlightEndOffset   int    `json:"highlight_end_offset"`
}

// NewJSONResult converts diagnostics, taking snippets from files.
func NewJSONResult(diags hcl.Diagnostics, files map[string]*hcl.File) JSONResult {
	res := JSONResult{Diagnostics: []JSONDiagnostic{}}
	for _, d := range diags {
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
			if f := files[r.Filename]; f != nil {
				jd.Snippet = snippet(f.Bytes, r)
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

// snippet returns the whole lines the range covers, with the highlight as
// byte offsets into them.
func snippet(src []byte, r hcl.Range) *JSONSnippet {
	if r.Start.Byte > len(src) || r.End.Byte > len(src) || r.Start.Line < 1 {
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(nil, len(src)+1)
	var code bytes.Buffer
	lineStart, line := 0, 0
	codeStart := -1
	for sc.Scan() {
		line++
		if line >= r.Start.Line && line <= max(r.End.Line, r.Start.Line) {
			if codeStart < 0 {
				codeStart = lineStart
			} else {
				code.WriteByte('\n')
			}
			code.Write(sc.Bytes())
		}
		lineStart += len(sc.Bytes()) + 1
	}
	if codeStart < 0 {
		return nil
	}
	s := &JSONSnippet{
		Code:                 code.String(),
		StartLine:            r.Start.Line,
		HighlightStartOffset: r.Start.Byte - codeStart,
		HighlightEndOffset:   min(r.End.Byte-codeStart, code.Len()),
	}
	s.HighlightStartOffset = min(max(s.HighlightStartOffset, 0), code.Len())
	s.HighlightEndOffset = max(s.HighlightEndOffset, s.HighlightStartOffset)
	return s
}
