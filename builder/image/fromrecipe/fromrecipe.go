// Package fromrecipe hands a recipe's plan to package image.
//
// It exists because package recipe imports package image (for
// Architecture), so image cannot name recipe.Plan or recipe.Template: the
// image stage calls NewMetadata and CheckTemplates here, and everything
// else in package image directly.
package fromrecipe

import (
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/recipe"
)

// Spec returns the image block and templates of plan as package image
// takes them.
func Spec(plan *recipe.Plan) image.Spec {
	img := plan.Image
	s := image.Spec{
		Name:         img.Name,
		Distribution: img.Distribution,
		Release:      img.Release,
		Variant:      img.Variant,
		Description:  img.Description,
		Architecture: img.Architecture,
		Expiry:       img.Expiry,
		Serial:       img.Serial,
		Properties:   img.Properties,
	}
	for _, t := range plan.Templates {
		s.Templates = append(s.Templates, Template(t))
	}
	return s
}

// Template returns a recipe template block as package image takes it.
func Template(t recipe.Template) image.Template {
	return image.Template{
		Path:       t.Path,
		Name:       t.Name,
		Content:    t.Content,
		Source:     t.Source,
		When:       t.When,
		CreateOnly: t.CreateOnly,
		Properties: t.Properties,
		UID:        t.UID,
		GID:        t.GID,
		Mode:       t.Mode,
		Enabled:    t.Enabled,
		Range:      t.Range,
	}
}

// NewMetadata builds the plan's metadata.yaml; see image.NewMetadata.
func NewMetadata(plan *recipe.Plan, created time.Time) (image.Metadata, error) {
	return image.NewMetadata(Spec(plan), created)
}

// CheckTemplate parses and test-renders one template block; see
// image.CheckTemplate.
func CheckTemplate(t recipe.Template) error {
	return image.CheckTemplate(Template(t))
}

// CheckTemplates test-renders the plan's enabled templates for a
// container and a virtual machine of this very image; see
// image.Spec.CheckTemplates.
func CheckTemplates(plan *recipe.Plan) error {
	return Spec(plan).CheckTemplates()
}
