package sbom

import (
	"slices"
	"strings"
)

// maxLicenseNames bounds the distinct License names of one copyright
// file that are converted (tens of microseconds each); Debian's largest
// files name a few hundred.
const maxLicenseNames = 4096

// CopyrightLicense returns the licence expression (SPDX) a Debian
// copyright file declares, or "" when the file is not machine-readable
// (no Format field naming the copyright-format 1.0 specification, as
// most packages older than that format have) or names no licence.
//
// The expression is every distinct License field of the header and the
// Files paragraphs, joined with AND: the package as a whole is under all
// of them. Standalone License paragraphs only give a licence's text, and
// are skipped. A file naming more than maxLicenseNames licence names, or
// so many licences that the expression would be longer than
// MaxExpression, also gives "": the file is the image's, and neither
// its size nor its number of paragraphs may make the build slow or fail
// (an SBOM that says NOASSERTION is still a valid one).
func CopyrightLicense(text string) string {
	seen := map[string]bool{}
	var exprs []string
	size, machineReadable, tooMany := 0, false, false
	deb822(text, func(i int, p map[string]string) bool {
		if i == 0 {
			machineReadable = strings.Contains(p["format"], "copyright-format/1.0")
			if !machineReadable {
				return false
			}
		}
		name, ok := p["license"]
		if _, files := p["files"]; !ok || name == "" || (i > 0 && !files) || seen[name] {
			return true
		}
		// Each distinct name is converted once: a file repeating one
		// licence in every paragraph costs one conversion.
		if seen[name] = true; len(seen) > maxLicenseNames {
			tooMany = true
			return false
		}
		expr := Expression(name)
		if slices.Contains(exprs, expr) {
			return true
		}
		if size += len(expr) + len(" AND ()"); size > MaxExpression {
			tooMany = true
			return false
		}
		exprs = append(exprs, expr)
		return true
	})
	if !machineReadable || tooMany {
		return ""
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
// field names and the first line of their values, and calls para with
// each one's index as it completes, until para returns false: one
// paragraph at a time, however many the file has.
// Lines starting with "#" are comments. Malformed lines are skipped:
// the file is the image's, and only a best reading is wanted.
func deb822(text string, para func(i int, fields map[string]string) bool) {
	var cur map[string]string
	n, last := 0, ""
	flush := func() bool {
		if cur == nil {
			return true
		}
		more := para(n, cur)
		cur, last = nil, ""
		n++
		return more
	}
	for len(text) > 0 {
		line, rest, _ := strings.Cut(text, "\n")
		text = rest
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.TrimSpace(line) == "":
			if !flush() {
				return
			}
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
			}
			last = strings.ToLower(strings.TrimSpace(name))
			cur[last] = strings.TrimSpace(value)
		}
	}
	flush()
}
