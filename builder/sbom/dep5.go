package sbom

import (
	"slices"
	"strings"
)

// CopyrightLicense returns the licence expression (SPDX) a Debian
// copyright file declares, or "" when the file is not machine-readable
// (no Format field naming the copyright-format 1.0 specification, as
// most packages older than that format have) or names no licence.
//
// The expression is every distinct License field of the header and the
// Files paragraphs, joined with AND: the package as a whole is under all
// of them. Standalone License paragraphs only give a licence's text, and
// are skipped.
func CopyrightLicense(text string) string {
	paras := deb822(text)
	if len(paras) == 0 || !strings.Contains(paras[0]["format"], "copyright-format/1.0") {
		return ""
	}
	var exprs []string
	for i, p := range paras {
		name, ok := p["license"]
		if _, files := p["files"]; !ok || name == "" || (i > 0 && !files) {
			continue
		}
		expr := Expression(name)
		if !slices.Contains(exprs, expr) {
			exprs = append(exprs, expr)
		}
	}
	slices.Sort(exprs)
	switch len(exprs) {
	case 0:
		return ""
	case 1:
		return exprs[0]
	}
	parts := make([]string, len(exprs))
	for i, e := range exprs {
		parts[i] = parenthesize(e)
	}
	return strings.Join(parts, " AND ")
}

// parenthesize puts a compound expression in parentheses, so that it
// can be an operand of AND.
func parenthesize(e string) string {
	if strings.Contains(e, " OR ") || strings.Contains(e, " AND ") || strings.Contains(e, " WITH ") {
		return "(" + e + ")"
	}
	return e
}

// deb822 splits a control-format text into paragraphs of lower-cased
// field names and the first line of their values.
// Lines starting with "#" are comments. Malformed lines are skipped:
// the file is the image's, and only a best reading is wanted.
func deb822(text string) []map[string]string {
	var paras []map[string]string
	var cur map[string]string
	last := ""
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.TrimSpace(line) == "":
			cur, last = nil, ""
		case strings.HasPrefix(line, "#"):
		case line[0] == ' ' || line[0] == '\t':
			// Continuation lines (a licence's text, a long file list)
			// say nothing the SBOM needs; a field whose value starts on
			// its second line gets that line.
			if cur != nil && last != "" && cur[last] == "" {
				cur[last] = strings.TrimSpace(line)
			}
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			if cur == nil {
				cur = map[string]string{}
				paras = append(paras, cur)
			}
			last = strings.ToLower(strings.TrimSpace(name))
			cur[last] = strings.TrimSpace(value)
		}
	}
	return paras
}
