package recipe

import (
	"fmt"
	"sort"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// SensitiveText replaces a sensitive value wherever one would be printed.
const SensitiveText = "(sensitive value)"

// DisplayValue renders a value in HCL syntax, or SensitiveText.
func DisplayValue(v cty.Value, sensitive bool) string {
	if sensitive || v.ContainsMarked() {
		return SensitiveText
	}
	if !v.IsWhollyKnown() {
		return "(unknown)"
	}
	return string(hclwrite.TokensForValue(v).Bytes())
}

// suggest returns ` (did you mean "x"?)` for the closest candidate, or "".
func suggest(given string, candidates []string) string {
	best := closest(given, candidates)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// closest returns the candidate nearest to given, if it is near enough
// to be a misspelling (as hcl's own suggestions judge), or "".
func closest(given string, candidates []string) string {
	best, bestDist := "", 3
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	for _, c := range sorted {
		if d := levenshtein.Distance(given, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}
