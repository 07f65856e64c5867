package recipe

import (
	"fmt"
	"sort"

	"github.com/agext/levenshtein"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// DisplayValue renders a value on one line, or SensitiveText.
func DisplayValue(v cty.Value, sensitive bool) string {
	if sensitive || v.ContainsMarked() {
		return SensitiveText
	}
	if !v.IsWhollyKnown() {
		return "(unknown)"
	}
	// JSON keeps lists and maps on one line, which tables need; for
	// strings, numbers and bools it reads as HCL does.
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return "(" + v.Type().FriendlyName() + ")"
	}
	return string(b)
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
