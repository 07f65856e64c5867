package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/builder-images/builder/builder/recipe"
)

// History is what the last build of a recipe used: its points and
// variable values, to say what changed when a stage misses. It is kept
// per recipe, not per image, so that a changed variant or architecture
// is named as the change it is; and per instance type (build.type), so
// that the VM stage of a recipe is compared with its last VM stage, not
// with the container stage the same build ran before it.
type History struct {
	Recipe string `json:"recipe"`
	// Type is the instance type the recipe was evaluated with; "" and
	// "container" are one (histories from before VM images have none).
	Type      string            `json:"type,omitempty"`
	Image     string            `json:"image"`
	Points    []Point           `json:"points"`
	Variables map[string]string `json:"variables"`
}

func (c *Cache) historyPath(recipePath, instanceType string) string {
	name := recipePath
	if instanceType != "" && instanceType != recipe.InstanceContainer {
		name += "\x00" + instanceType
	}
	sum := sha256.Sum256([]byte(name))
	return filepath.Join(c.Dir, "history", hex.EncodeToString(sum[:12])+".json")
}

// LastBuild returns the history of the recipe's last build for the
// instance type, if any.
func (c *Cache) LastBuild(recipePath, instanceType string) (History, bool) {
	var h History
	data, err := os.ReadFile(c.historyPath(recipePath, instanceType))
	if err != nil || json.Unmarshal(data, &h) != nil {
		return History{}, false
	}
	return h, true
}

// RecordBuild keeps h as the recipe's last build.
func (c *Cache) RecordBuild(h History) error {
	data, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(c, c.historyPath(h.Recipe, h.Type), data)
}

// Explain says why point i of cur missed, against the last build: the
// variables whose values changed, then the group's inputs that changed
// (`packages: install gained "curl"`). With no history it says so.
func Explain(last History, ok bool, cur History, i int) []string {
	if !ok {
		return []string{"no earlier build of this recipe in the cache"}
	}
	var reasons []string
	names := make([]string, 0, len(cur.Variables))
	for name := range cur.Variables {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		before, had := last.Variables[name]
		if now := cur.Variables[name]; !had || before != now {
			reasons = append(reasons, fmt.Sprintf("variable %s: %s → %s", name, before, now))
		}
	}
	if i >= len(last.Points) || last.Points[i].Name() != cur.Points[i].Name() {
		return append(reasons, "the recipe's steps are grouped differently than in the last build")
	}
	if i > 0 && last.Points[i-1].Key != cur.Points[i-1].Key {
		reasons = append(reasons, fmt.Sprintf("the %s stage before it changed", cur.Points[i-1].Name()))
	}
	reasons = append(reasons, diffInputs(last.Points[i].Inputs, cur.Points[i].Inputs)...)
	if len(reasons) == 0 {
		reasons = append(reasons, "its snapshot is not in the cache (pruned, or never stored)")
	}
	return reasons
}

func diffInputs(before, after []Input) []string {
	old := map[string]Input{}
	for _, in := range before {
		old[in.Name] = in
	}
	var out []string
	seen := map[string]bool{}
	for _, in := range after {
		seen[in.Name] = true
		prev, had := old[in.Name]
		switch {
		case !had:
			out = append(out, fmt.Sprintf("%s: new (%s)", in.Name, summary(in)))
		case slices.Equal(prev.Values, in.Values):
		case in.List && prev.List:
			out = append(out, listChange(in.Name, prev.Values, in.Values))
		default:
			out = append(out, fmt.Sprintf("%s: %s → %s", in.Name, summary(prev), summary(in)))
		}
	}
	for _, in := range before {
		if !seen[in.Name] {
			out = append(out, fmt.Sprintf("%s: removed", in.Name))
		}
	}
	return out
}

func listChange(name string, before, after []string) string {
	var parts []string
	if gained := missingFrom(before, after); len(gained) > 0 {
		parts = append(parts, "gained "+quoteAll(gained))
	}
	if lost := missingFrom(after, before); len(lost) > 0 {
		parts = append(parts, "lost "+quoteAll(lost))
	}
	if len(parts) == 0 {
		parts = append(parts, "reordered")
	}
	return name + " " + strings.Join(parts, ", ")
}

// missingFrom lists the items of b that a lacks.
func missingFrom(a, b []string) []string {
	var out []string
	for _, v := range b {
		if !slices.Contains(a, v) {
			out = append(out, v)
		}
	}
	return out
}

func quoteAll(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// summary shortens a value for one line of explanation.
func summary(in Input) string {
	s := strings.Join(in.Values, " ")
	if in.List {
		s = "[" + s + "]"
	}
	if len(s) > 60 {
		s = s[:57] + "…"
	}
	return strings.ReplaceAll(s, "\n", "⏎")
}

// VariableValues are a plan's variables as explanations show them:
// strings unquoted, sensitive ones as a digest, so that a changed token
// is named as the change without being written down.
func VariableValues(plan *recipe.Plan) map[string]string {
	out := map[string]string{}
	for _, v := range plan.Variables {
		if v.Sensitive && v.Value.IsWhollyKnown() {
			unmarked, _ := v.Value.UnmarkDeep()
			if b, err := ctyjson.Marshal(unmarked, unmarked.Type()); err == nil {
				out[v.Name] = digestText(string(b))
				continue
			}
		}
		// Strings unquoted, as people write them on the command line.
		if !v.Sensitive && v.Value.IsKnown() && !v.Value.IsNull() && !v.Value.IsMarked() && v.Value.Type() == cty.String {
			out[v.Name] = v.Value.AsString()
			continue
		}
		out[v.Name] = recipe.DisplayValue(v.Value, v.Sensitive)
	}
	return out
}
