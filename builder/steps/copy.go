package steps

import (
	"context"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/step"
)

// Copy copies a host file or directory tree into the rootfs.
type Copy struct {
	Path   string `json:"path"`
	Source string `json:"source"`
	// Ownership applies when set in the recipe; otherwise files belong
	// to root. A Mode of 0 keeps the source's own modes.
	Ownership *Ownership `json:"ownership,omitempty"`
}

// Kind is the block type.
func (*Copy) Kind() string { return "copy" }

// Fields are the path, the source and the ownership when set.
func (c *Copy) Fields() step.Fields {
	fields := step.Fields{}.
		With("path", step.Text(c.Path)).
		With("source", step.Text(c.Source))
	if c.Ownership != nil {
		fields = append(fields, c.Ownership.field())
	}
	return fields
}

// HostInputs is the source, a file or a whole tree.
func (c *Copy) HostInputs() []string { return nonEmpty(c.Source) }

// Tools: a copy step runs no host program.
func (*Copy) Tools() []string { return nil }

// Summary: "from /host/dir 0644 root:root".
func (c *Copy) Summary(masked step.Fields) string {
	var parts []string
	if src := masked.Text("source"); src != "" {
		parts = append(parts, "from "+src)
	}
	return joinParts(append(parts, nonEmpty(ownershipText(masked.Get("ownership")))...))
}

// Run copies the source through the image's confined root.
func (c *Copy) Run(_ context.Context, rt step.Runtime) error {
	return confined.CopyIn(rt.ImageDir(), confined.Copy{Path: c.Path, Source: c.Source, Ownership: (*confined.Ownership)(c.Ownership)})
}
