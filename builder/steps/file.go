package steps

import (
	"context"
	"fmt"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/step"
)

// File writes Content, or the host file Source, to Path in the rootfs.
type File struct {
	Path    string `json:"path"`
	Content string `json:"content,omitempty"`
	Source  string `json:"source,omitempty"`
	// Ownership is named, not embedded, so its MarshalJSON stays its own.
	Ownership Ownership `json:"ownership"`
}

// Kind is the block type.
func (*File) Kind() string { return "file" }

// Fields are the path, the content or source, and the ownership.
func (f *File) Fields() step.Fields {
	fields := step.Fields{}.
		With("path", step.Text(f.Path)).
		WithSet("content", step.Text(f.Content)).
		WithSet("source", step.Text(f.Source))
	return append(fields, f.Ownership.field())
}

// HostInputs is the source file, if any.
func (f *File) HostInputs() []string { return nonEmpty(f.Source) }

// Tools: a file step runs no host program.
func (*File) Tools() []string { return nil }

// Summary: "0644 root:root from /host/file", or the content's size.
func (f *File) Summary(masked step.Fields) string {
	parts := nonEmpty(ownershipText(masked.Get("ownership")))
	switch {
	case f.Source != "":
		parts = append(parts, "from "+masked.Text("source"))
	case masked.Masked("content"):
		parts = append(parts, "content "+masked.Text("content"))
	default:
		parts = append(parts, fmt.Sprintf("%d bytes", len(f.Content)))
	}
	return joinParts(parts)
}

// Run writes the file through the image's confined root.
func (f *File) Run(_ context.Context, rt step.Runtime) error {
	return confined.WriteFile(rt.ImageDir(), confined.File{Path: f.Path, Content: f.Content, Source: f.Source,
		Ownership: confined.Ownership(f.Ownership)})
}
