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
// takes them; see recipe.Plan.ImageSpec.
func Spec(plan *recipe.Plan) image.Spec { return plan.ImageSpec() }

// Template returns a recipe template block as package image takes it.
func Template(t recipe.Template) image.Template { return t.ImageTemplate() }

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
