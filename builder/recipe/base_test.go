package recipe

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/image"
)

// testBase is a base image with templates and properties for each way
// the recipe treats them.
func testBase() *bootstrap.Base {
	return &bootstrap.Base{
		Kind: bootstrap.BaseImage, Source: "lxd", Reference: "base", Fingerprint: strings.Repeat("ab", 32),
		Properties: map[string]string{"os": "other", "keep": "1", "gone": "x", "mine": "base"},
		Templates: []bootstrap.BaseTemplate{
			{Path: "/etc/hostname", Name: "hostname.tpl", Content: "base {{ container.name }}\n", When: []string{"create"}},
			{Path: "/etc/hosts", Name: "hosts.tpl", Content: "127.0.0.1 localhost\n", When: []string{"create"}},
			// Its file name is the recipe's template's: renamed.
			{Path: "/etc/note", Name: "hostname.tpl", Content: "note\n", When: []string{"start"}},
		},
	}
}

func loadBaseRecipe(t *testing.T, block string) *Plan {
	t.Helper()
	src := `image {
  distribution = "debian"
  release      = "bookworm"
  properties   = { mine = "recipe" }
}
` + block + `
template "/etc/hostname" {
  content = "recipe {{ container.name }}\n"
}
`
	path := filepath.Join(t.TempDir(), "r.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return mustLoad(t, path, Options{})
}

// TestApplyBase: the base's templates and properties are kept unless
// dropped, the recipe's template for a path and the image block's (and
// derived) properties win, and the log hears what was overridden.
func TestApplyBase(t *testing.T) {
	plan := loadBaseRecipe(t, `bootstrap "image" {
  alias           = "base"
  drop_templates  = ["/etc/hosts"]
  drop_properties = ["gone"]
}`)
	notes := plan.ApplyBase(testBase())
	var paths, names []string
	for _, tpl := range plan.Templates {
		paths, names = append(paths, tpl.Path), append(names, tpl.Name)
	}
	if !slices.Equal(paths, []string{"/etc/hostname", "/etc/note"}) || names[0] == names[1] {
		t.Errorf("templates %v named %v; want the recipe's /etc/hostname and the base's /etc/note under another name", paths, names)
	}
	if plan.Templates[0].Content != "recipe {{ container.name }}\n" || plan.Templates[1].Content != "note\n" {
		t.Errorf("template contents %q, %q", plan.Templates[0].Content, plan.Templates[1].Content)
	}
	props := plan.Image.Properties
	if props["keep"] != "1" || props["mine"] != "recipe" || props["gone"] != "" || props["os"] != "" {
		t.Errorf("properties %v; want keep from the base, mine the recipe's, gone dropped, os left to the derived one", props)
	}
	joined := strings.Join(notes, "\n")
	for _, want := range []string{"template for /etc/hostname is replaced", `property mine="base"`, `property os="other"`} {
		if !strings.Contains(joined, want) {
			t.Errorf("the notes lack %q:\n%s", want, joined)
		}
	}
	md, err := image.NewMetadata(plan.ImageSpec(), time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if md.Properties["os"] != "debian" || md.Templates["/etc/note"].Template == "hostname.tpl" {
		t.Errorf("metadata.yaml: properties %v, templates %v", md.Properties, md.Templates)
	}
	if err := plan.ImageSpec().CheckTemplates(); err != nil {
		t.Error(err)
	}
}

// TestApplyBaseDrop: templates = "drop" and properties = "drop" leave
// the base's metadata out whole.
func TestApplyBaseDrop(t *testing.T) {
	plan := loadBaseRecipe(t, `bootstrap "image" {
  alias      = "base"
  templates  = "drop"
  properties = "drop"
}`)
	if notes := plan.ApplyBase(testBase()); len(notes) != 0 {
		t.Errorf("notes %v; nothing was overridden", notes)
	}
	if len(plan.Templates) != 1 || len(plan.Image.Properties) != 1 {
		t.Errorf("templates %v, properties %v; want the recipe's only", plan.Templates, plan.Image.Properties)
	}
}

// TestApplyBaseLeavesCopiesAlone: a plan copied from another (pack's)
// shares its templates and properties, which ApplyBase must not change
// under the original.
func TestApplyBaseLeavesCopiesAlone(t *testing.T) {
	plan := loadBaseRecipe(t, `bootstrap "image" {
  alias = "base"
}`)
	copied := *plan
	copied.ApplyBase(testBase())
	if len(plan.Templates) != 1 || len(plan.Image.Properties) != 1 {
		t.Errorf("the original changed: templates %v, properties %v", plan.Templates, plan.Image.Properties)
	}
}

// TestApplyBaseUncleanPaths: LXD and Incus write a template to its path
// cleaned (joined to the rootfs), so a base template spelled
// /etc//hosts or /etc/./hostname is the one drop_templates or a recipe
// template for /etc/hosts or /etc/hostname means; else both would write
// the file, the base's last or first as the daemon happens to order them.
func TestApplyBaseUncleanPaths(t *testing.T) {
	plan := loadBaseRecipe(t, `bootstrap "image" {
  alias          = "base"
  drop_templates = ["/etc/hosts/"]
}`)
	base := testBase()
	base.Templates[0].Path = "/etc/./hostname"
	base.Templates[1].Path = "/etc//hosts"
	notes := plan.ApplyBase(base)
	var paths []string
	for _, tpl := range plan.Templates {
		paths = append(paths, tpl.Path)
	}
	if !slices.Equal(paths, []string{"/etc/hostname", "/etc/note"}) {
		t.Errorf("templates for %v; want the recipe's /etc/hostname and the base's /etc/note only", paths)
	}
	if joined := strings.Join(notes, "\n"); !strings.Contains(joined, "template for /etc/./hostname is replaced") {
		t.Errorf("the notes lack the replaced template:\n%s", joined)
	}
}
