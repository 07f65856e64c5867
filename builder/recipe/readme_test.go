package recipe

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/bootstrap"
)

// TestReadmeMatchesSchema keeps the README's recipe reference and the
// schema from drifting: every attribute the decoder accepts is
// documented in its block's table, and every documented one exists.
func TestReadmeMatchesSchema(t *testing.T) {
	src, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(src)
	ref := readme[strings.Index(readme, "## Recipe reference"):]
	if !strings.Contains(ref, "takes `enabled = <bool>`") {
		t.Error("the reference no longer says that every step block takes enabled")
	}
	sections := readmeSections(ref)
	for _, block := range BlockTypes() {
		rows, ok := sections[block]
		if !ok {
			t.Errorf("README has no ### `%s` section", block)
			continue
		}
		if block == "locals" || block == "environment" || block == "matrix" {
			continue // free-form: NAME = value
		}
		documented := map[string][]string{}
		for _, row := range rows {
			for _, name := range backticked(row[0]) {
				documented[name] = row
			}
		}
		want := without(Attributes(block), "enabled")
		if block == "variable" {
			want = append(want, "validation") // a nested block
		}
		if got := sortedKeys(documented); !equalSets(got, want) {
			t.Errorf("README ### `%s` documents %v; the schema has %v", block, got, sorted(want))
		}
		if block == "bootstrap" {
			for _, backend := range bootstrap.Names() {
				var got []string
				for name, row := range documented {
					if slices.Contains(backticked(row[1]), backend) {
						got = append(got, name)
					}
				}
				if want := without(BackendAttributes(backend), "enabled"); !equalSets(got, want) {
					t.Errorf("README says %s takes %v; the schema says %v", backend, sorted(got), sorted(want))
				}
			}
		}
	}
}

var sectionHeader = regexp.MustCompile("(?m)^### `([a-z]+)")

// readmeSections maps each "### `block …`" section to its table rows,
// each row split into trimmed cells.
func readmeSections(ref string) map[string][][]string {
	out := map[string][][]string{}
	locs := sectionHeader.FindAllStringSubmatchIndex(ref, -1)
	for i, loc := range locs {
		end := len(ref)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		if next := strings.Index(ref[loc[0]:end], "\n## "); next >= 0 {
			end = loc[0] + next
		}
		name := ref[loc[2]:loc[3]]
		out[name] = nil
		for _, line := range strings.Split(ref[loc[1]:end], "\n") {
			if !strings.HasPrefix(line, "| `") {
				continue
			}
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for j := range cells {
				cells[j] = strings.TrimSpace(cells[j])
			}
			out[name] = append(out[name], cells)
		}
	}
	return out
}

var backtickWord = regexp.MustCompile("`([a-z_0-9]+)")

func backticked(cell string) []string {
	var out []string
	for _, m := range backtickWord.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

func without(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

func sorted(list []string) []string {
	out := append([]string(nil), list...)
	sort.Strings(out)
	return out
}

func equalSets(a, b []string) bool { return slices.Equal(sorted(a), sorted(b)) }
