// Package template owns LXD templates: the Template type a recipe's
// template block decodes into and the image ships, the triggers the
// daemon knows (Triggers), the pongo2 tags it refuses (BannedTags), and
// the one parser and check of a template's text.
//
// Where to start:
//   - Template and Check (template.go): a template, and its test render
//     for a container and a virtual machine, as the daemon will render it.
//   - Parse (render.go): the one parser, used by the recipe's validation
//     and by Check; it refuses recursive macros and other templates whose
//     rendering could run without bound (limits.go). The test render is
//     bounded in time and output.
//
// Package recipe embeds Template in its own recipe.Template (adding what
// only the recipe knows); package image writes templates into
// metadata.yaml (image.Spec, image.NewMetadata). This package imports
// neither.
package template
