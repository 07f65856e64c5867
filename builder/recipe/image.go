package recipe

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/builder-images/builder/builder/image"
)

// DefaultExpiry is distrobuilder's default, kept so images expire alike.
const DefaultExpiry = "30d"

func decodeImage(block *hclsyntax.Block, body *hclsyntax.Body, ctx *hcl.EvalContext, hostArch string, diags *hcl.Diagnostics) Image {
	if block == nil {
		rng := hcl.Range{Filename: body.SrcRange.Filename, Start: hcl.InitialPos, End: hcl.InitialPos}
		*diags = append(*diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing image block",
			Detail:   "A recipe needs an image block naming at least the distribution and release.",
			Subject:  &rng,
		})
		return Image{}
	}
	d := decodeAttrs(block, ctx, diags, blockSchemas["image"].attrs...)
	img := Image{
		Distribution: d.str("distribution", ""),
		Release:      d.str("release", ""),
		Variant:      d.str("variant", "default"),
		Serial:       d.str("serial", ""),
		Properties:   d.strMap("properties"),
		Range:        block.DefRange(),
	}
	for _, f := range []struct{ name, val string }{{"distribution", img.Distribution}, {"release", img.Release}, {"variant", img.Variant}} {
		if d.has(f.name) && strings.TrimSpace(f.val) == "" {
			d.errorf(f.name, "Empty image "+f.name, "The image %s must not be empty: it names the image and its simplestreams product.", f.name)
		}
	}

	img.Architecture = decodeArchitecture(d, hostArch)

	img.Name = d.str("name", "")
	if !d.has("name") && img.Distribution != "" {
		img.Name = strings.Join([]string{img.Distribution, img.Release, img.Architecture.Distribution, img.Variant}, "-")
	}
	if msg := checkImageName(img.Name); msg != "" && img.Distribution != "" {
		d.errorf("name", "Invalid image name", "The %s", msg)
	}
	img.Description = d.str("description", "")
	if !d.has("description") && img.Distribution != "" {
		img.Description = fmt.Sprintf("%s %s %s (%s)", titleCase(img.Distribution), img.Release, img.Architecture.Distribution, img.Variant)
	}
	if img.Serial != "" {
		if msg := checkSerial(img.Serial); msg != "" {
			d.errorf("serial", "Invalid serial", "The %s", msg)
		}
	}
	if expiry := d.str("expiry", DefaultExpiry); expiry != "never" {
		var msg string
		if img.Expiry, msg = parseDuration(expiry); msg != "" {
			d.errorf("expiry", "Invalid expiry", "The expiry: %s Use \"never\" for an image that does not expire.", msg)
		}
	}
	img.Aliases = d.strList("aliases", nil)
	seen := map[string]bool{}
	for i, a := range img.Aliases {
		if err := image.CheckAlias(a); err != nil {
			d.elementErrorf("aliases", i, "Invalid alias", "The alias %q %v.", a, err)
		} else if seen[a] {
			d.elementErrorf("aliases", i, "Duplicate alias", "The alias %q is listed twice.", a)
		}
		seen[a] = true
	}
	img.Sensitive = d.sensitiveNames()
	d.checkPublic("the image", publicImageAttrs, "the image's identity and properties are published in image.json, metadata.yaml and images.json")
	return img
}

// decodeArchitecture looks the architecture up, or the host's when the
// image names none.
func decodeArchitecture(d *attrDecoder, hostArch string) image.Architecture {
	known := strings.Join(image.ArchitectureNames(), ", ")
	if !d.has("architecture") {
		arch, err := image.HostArchitecture(hostArch)
		if err != nil {
			d.errorf("architecture", "Unknown architecture",
				"The image names no architecture, so it would be built for this machine's, %s, which builder cannot build for. Set architecture to one of %s.", hostArch, known)
		}
		return arch
	}
	name := d.str("architecture", "")
	arch, err := image.LookupArchitecture(name)
	if err != nil {
		d.errorf("architecture", "Unknown architecture",
			"There is no architecture %q%s. Architectures, in Debian's spelling: %s; LXD's names such as x86_64 and aarch64 are accepted too.", name, suggest(name, image.ArchitectureNames()), known)
	}
	return arch
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func decodeEnvironment(blocks []*hclsyntax.Block, ctx *hcl.EvalContext, diags *hcl.Diagnostics) []EnvVar {
	var out []EnvVar
	seen := map[string]hcl.Range{}
	for _, b := range blocks {
		attrs, moreDiags := b.Body.JustAttributes()
		*diags = append(*diags, moreDiags...)
		for _, name := range sortedKeys(attrs) {
			v, ok := decodeEnvAttr(attrs[name], ctx, seen, diags)
			if ok {
				out = append(out, v)
			}
		}
	}
	return out
}

// decodeEnvAttr decodes one NAME = "value" of an environment block or a
// run step's environment, refusing names used twice.
func decodeEnvAttr(attr *hcl.Attribute, ctx *hcl.EvalContext, seen map[string]hcl.Range, diags *hcl.Diagnostics) (EnvVar, bool) {
	if msg := checkEnvName(attr.Name); msg != "" {
		*diags = append(*diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid environment variable name", Detail: "The name " + msg, Subject: &attr.NameRange})
		return EnvVar{}, false
	}
	if prev, dup := seen[attr.Name]; dup {
		*diags = append(*diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate environment variable",
			Detail:   fmt.Sprintf("%s is already set at %s:%d.", attr.Name, prev.Filename, prev.Start.Line),
			Subject:  &attr.NameRange,
		})
		return EnvVar{}, false
	}
	seen[attr.Name] = attr.NameRange
	val, moreDiags := evalExpr(attr.Expr, ctx)
	*diags = append(*diags, moreDiags...)
	if moreDiags.HasErrors() || !val.IsWhollyKnown() {
		return EnvVar{}, false
	}
	val, marks := val.UnmarkDeep()
	str, err := convert.Convert(val, cty.String)
	if err != nil || str.IsNull() {
		rng := attr.Expr.Range()
		*diags = append(*diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Incorrect attribute value type", Detail: fmt.Sprintf("Environment variable %s must be a string: %s.", attr.Name, errText(err, "it is null")), Subject: &rng})
		return EnvVar{}, false
	}
	_, sensitive := marks[sensitiveMark]
	return EnvVar{Name: attr.Name, Value: str.AsString(), Sensitive: sensitive, Range: attr.Range}, true
}

func errText(err error, otherwise string) string {
	if err != nil {
		return err.Error()
	}
	return otherwise
}
