package sbom

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/github/go-spdx/v2/spdxexp"
)

// Expression turns a Debian copyright file's License name into an SPDX
// licence expression: Debian's short names become SPDX identifiers
// ("GPL-2+" → "GPL-2.0-or-later", "Expat" → "MIT"), "and"/"or" become
// AND/OR, a comma groups what comes before it; a name SPDX does not
// know becomes "LicenseRef-NAME" (an SBOM declares each in
// hasExtractedLicensingInfos), as does a "with … exception" clause,
// which names no exception of SPDX's list.
func Expression(name string) string {
	whole := LicenseRef(name)
	var acc string
	for i, seg := range strings.Split(name, ",") {
		fields := strings.Fields(seg)
		op := ""
		if i > 0 {
			if len(fields) == 0 {
				return whole
			}
			op = operator(fields[0])
			if op == "" {
				// "A, B": a list, read as both.
				op = "AND"
			} else {
				fields = fields[1:]
			}
		}
		expr, ok := segment(fields)
		if !ok {
			return whole
		}
		if i == 0 {
			acc = expr
		} else {
			acc = parenthesize(acc) + " " + op + " " + parenthesize(expr)
		}
	}
	if ok, _ := spdxexp.ValidateLicenses([]string{acc}); !ok {
		return whole
	}
	return acc
}

// operator is "AND" or "OR" for DEP-5's "and" and "or", "" otherwise.
func operator(word string) string {
	switch strings.ToLower(word) {
	case "and":
		return "AND"
	case "or":
		return "OR"
	}
	return ""
}

// segment converts the words between commas: licences joined by "and"
// or "or", each maybe followed by "with … exception". DEP-5 gives
// "and" precedence over "or", as SPDX does, so the words map one to one.
func segment(words []string) (string, bool) {
	var out []string
	wantLicense := true
	for i := 0; i < len(words); i++ {
		w := words[i]
		if op := operator(w); op != "" {
			if wantLicense {
				return "", false
			}
			out = append(out, op)
			wantLicense = true
			continue
		}
		if !wantLicense {
			if !strings.EqualFold(w, "with") || len(out) == 0 {
				return "", false
			}
			// "GPL-2+ with OpenSSL exception": up to and including
			// "exception", or up to the next operator.
			clause := []string{"with"}
			for i+1 < len(words) && operator(words[i+1]) == "" {
				i++
				clause = append(clause, words[i])
				if strings.EqualFold(words[i], "exception") {
					break
				}
			}
			out[len(out)-1] = LicenseRef(out[len(out)-1] + "-" + strings.Join(clause, "-"))
			continue
		}
		out = append(out, licenseID(w))
		wantLicense = false
	}
	if wantLicense {
		return "", false
	}
	return strings.Join(out, " "), true
}

// debianNames are Debian's short names that are not SPDX identifiers,
// as the copyright-format 1.0 specification lists them, and the GNU
// licences (handled by gnuRe) aside.
var debianNames = map[string]string{
	"expat":         "MIT",
	"artistic":      "Artistic-1.0-Perl",
	"perl":          "(Artistic-1.0-Perl OR GPL-1.0-or-later)",
	"bsd-2-clause":  "BSD-2-Clause",
	"bsd-3-clause":  "BSD-3-Clause",
	"bsd-4-clause":  "BSD-4-Clause",
	"zlib":          "Zlib",
	"isc":           "ISC",
	"apache-2":      "Apache-2.0",
	"apache-2.0":    "Apache-2.0",
	"python-2.0":    "Python-2.0",
	"public-domain": "LicenseRef-public-domain",
}

// gnuRe matches Debian's names of the GNU licences: GPL-2, LGPL-2.1+,
// AGPL-3, GFDL-1.3+ (and the SPDX-like GPL-2.0 some files use).
var gnuRe = regexp.MustCompile(`^(?i)(GPL|LGPL|AGPL|GFDL)-([0-9])(\.[0-9])?(\+)?$`)

// licenseID converts one licence name.
func licenseID(name string) string {
	if id, ok := debianNames[strings.ToLower(name)]; ok {
		return id
	}
	if m := gnuRe.FindStringSubmatch(name); m != nil {
		minor := m[3]
		if minor == "" {
			minor = ".0"
		}
		suffix := "-only"
		if m[4] != "" {
			suffix = "-or-later"
		}
		id := strings.ToUpper(m[1]) + "-" + m[2] + minor + suffix
		if known(id) != "" {
			return id
		}
	}
	if id := known(name); id != "" {
		return id
	}
	if base, ok := strings.CutSuffix(name, "+"); ok {
		if id := known(base); id != "" {
			return id + "+"
		}
	}
	return LicenseRef(name)
}

// known returns the SPDX list's spelling of a licence identifier, or ""
// when the list does not have it.
func known(id string) string {
	if strings.HasPrefix(strings.ToLower(id), "licenseref-") || strings.HasPrefix(strings.ToLower(id), "documentref-") {
		return ""
	}
	norm, invalid := spdxexp.ValidateAndNormalizeLicensesWithOptions([]string{id}, spdxexp.ValidateLicensesOptions{
		FailComplexExpressions: true, FailAllLicenseRefs: true, FailAllDocumentRefs: true})
	if len(invalid) > 0 || len(norm) != 1 || strings.ContainsAny(norm[0], " ()") {
		return ""
	}
	return norm[0]
}

var refUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// LicenseRef is the SPDX reference for a licence named by the image:
// "LicenseRef-" and the name, each run of characters an idstring may
// not hold replaced by "-".
func LicenseRef(name string) string {
	// Some copyright files already say "LicenseRef-NAME".
	if len(name) > len("LicenseRef-") && strings.EqualFold(name[:len("LicenseRef-")], "LicenseRef-") {
		name = name[len("LicenseRef-"):]
	}
	s := strings.Trim(refUnsafe.ReplaceAllString(name, "-"), "-")
	if len(s) > 120 {
		s = s[:120]
	}
	if s == "" {
		s = "unnamed"
	}
	return "LicenseRef-" + s
}

// exprRe is what Expression can produce: identifiers, "+", parentheses
// and the operators.
var exprRe = regexp.MustCompile(`^[A-Za-z0-9.+() -]+$`)

// MaxExpression bounds a package's licence expression in bytes: room for
// some two thousand licences, more than any Debian package's copyright
// file names. CopyrightLicense gives no expression rather than a longer
// one, and Facts.Check refuses a longer one from the cache.
const MaxExpression = 64 << 10

// checkExpression refuses a stored expression CopyrightLicense could
// not have produced.
func checkExpression(expr string) error {
	if len(expr) > MaxExpression || !exprRe.MatchString(expr) {
		return fmt.Errorf("%q is not a licence expression builder writes", expr)
	}
	if ok, bad := spdxexp.ValidateLicenses([]string{expr}); !ok {
		return fmt.Errorf("%q is not a valid SPDX expression (%s)", expr, strings.Join(bad, ", "))
	}
	return nil
}
