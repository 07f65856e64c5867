package recipe

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/builder-images/builder/builder/image"
)

// DefaultTestTimeout bounds a test block that sets no timeout.
const DefaultTestTimeout = 5 * time.Minute

// TestBlock is a `test` block: a script `builder test` runs inside the
// booted instance. It changes nothing in the rootfs, so it is no step;
// packing records the enabled ones in image.json (see ImageTests),
// because an output directory is tested without its recipe.
type TestBlock struct {
	Name   string
	Script string
	// On lists the instance types the test runs on, as the recipe
	// spells them: image.TestOnContainer, image.TestOnVM.
	On      []string
	Timeout time.Duration
	Enabled bool
	// Range is the block's header, which a failure points at.
	Range hcl.Range
	// Sensitive lists attributes computed from sensitive values.
	Sensitive     []string
	enabledFailed bool // as for Step
}

// testOnValues are what `on` takes, in the order a default lists them.
var testOnValues = []string{image.TestOnContainer, image.TestOnVM}

// decodeTest decodes a test block, reporting what is wrong with it.
func decodeTest(b *hclsyntax.Block, ctx *hcl.EvalContext, diags *hcl.Diagnostics) TestBlock {
	d := decodeAttrs(b, ctx, diags, blockSchemas["test"].attrs...)
	t := TestBlock{Name: b.Labels[0], Range: b.DefRange(), Script: d.str("script", ""), Timeout: DefaultTestTimeout}
	// The name becomes the script's file name in the instance and the
	// label of its output lines.
	if msg := checkFileLabel("test name", t.Name); msg != "" {
		rng := b.LabelRanges[0]
		*diags = append(*diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid test name", Detail: "The " + msg, Subject: &rng})
	}
	if d.has("script") && strings.TrimSpace(t.Script) == "" {
		d.errorf("script", "Empty script", "The test %q has an empty script.", t.Name)
	}
	t.On = d.strList("on", slices.Clone(testOnValues))
	if d.has("on") && len(t.On) == 0 && !d.failed["on"] {
		d.errorf("on", "Empty on", "The test %q would run nowhere: on lists none of %q and %q; disable it with enabled = false instead.", t.Name, image.TestOnContainer, image.TestOnVM)
	}
	for i, on := range t.On {
		if !slices.Contains(testOnValues, on) {
			d.elementErrorf("on", i, "Invalid instance type", "A test runs on %q or %q, not %q%s.", image.TestOnContainer, image.TestOnVM, on, suggest(on, testOnValues))
		}
	}
	t.On = slices.Compact(sortedOn(t.On))
	if d.has("timeout") {
		timeout, msg := parseDuration(d.str("timeout", ""))
		if msg != "" {
			d.errorf("timeout", "Invalid timeout", "The timeout: %s", msg)
		} else {
			t.Timeout = timeout
		}
	}
	d.checkPublic(fmt.Sprintf("test %q", t.Name), []string{"script", "on", "timeout"}, "a test's settings are published in the image's image.json")
	t.Enabled = d.boolean("enabled", true)
	t.enabledFailed = d.failed["enabled"]
	delete(d.sensitive, "enabled")
	t.Sensitive = d.sensitiveNames()
	return t
}

// sortedOn puts container before vm, whatever order the recipe gave.
func sortedOn(on []string) []string {
	out := slices.Clone(on)
	slices.SortStableFunc(out, func(a, b string) int {
		return slices.Index(testOnValues, a) - slices.Index(testOnValues, b)
	})
	return out
}

// checkTestNames reports an enabled test block whose name an earlier
// enabled one has: a name is a file in the instance and a check's name.
func checkTestNames(tests []TestBlock) hcl.Diagnostics {
	var diags hcl.Diagnostics
	first := map[string]hcl.Range{}
	for _, t := range tests {
		if !t.Enabled || t.enabledFailed {
			continue
		}
		if prev, dup := first[t.Name]; dup {
			rng := t.Range
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate test name",
				Detail:   fmt.Sprintf("The test name %q is already used by the test block at %s:%d; only one enabled block may use it.", t.Name, prev.Filename, prev.Start.Line),
				Subject:  &rng,
			})
			continue
		}
		first[t.Name] = t.Range
	}
	return diags
}

// ImageTests returns the enabled test blocks that run on instanceType
// (image.InstanceContainer or image.InstanceVM) as image.json records
// them, in recipe order; nil when there are none.
func (p *Plan) ImageTests(instanceType string) []image.Test {
	var out []image.Test
	for _, t := range p.Tests {
		it := t.Image()
		if t.Enabled && it.RunsOn(instanceType) {
			out = append(out, it)
		}
	}
	return out
}

// Image is the test as image.json records it: the timeout in whole
// seconds, rounded up, and the block's file and line.
func (t TestBlock) Image() image.Test {
	return image.Test{
		Name: t.Name, Script: t.Script, On: slices.Clone(t.On),
		Timeout: int((t.Timeout + time.Second - 1) / time.Second),
		File:    t.Range.Filename, Line: t.Range.Start.Line,
	}
}
