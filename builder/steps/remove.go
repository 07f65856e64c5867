package steps

import (
	"context"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/step"
)

// Remove deletes Path (recursively) from the rootfs.
type Remove struct {
	Path      string `json:"path"`
	MissingOK bool   `json:"missing_ok"`
}

// Kind is the block type.
func (*Remove) Kind() string { return "remove" }

// Fields are the path and missing_ok.
func (r *Remove) Fields() step.Fields {
	return step.Fields{}.
		With("path", step.Text(r.Path)).
		With("missing_ok", step.Flag(r.MissingOK))
}

// HostInputs: a remove step reads nothing of the host.
func (*Remove) HostInputs() []string { return nil }

// Tools: a remove step runs no host program.
func (*Remove) Tools() []string { return nil }

// Summary: "missing_ok" when it is set.
func (r *Remove) Summary(masked step.Fields) string {
	if masked.Get("missing_ok") == step.Flag(true) {
		return "missing_ok"
	}
	return ""
}

// Run removes the path through the image's confined root.
func (r *Remove) Run(_ context.Context, rt step.Runtime) error {
	return confined.Remove(rt.ImageDir(), r.Path, r.MissingOK)
}
