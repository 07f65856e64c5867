package recipe

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/builder-images/builder/builder/pack"
)

// Output types and rootfs formats.
const (
	OutputSplit    = "split"
	OutputUnified  = "unified"
	RootfsSquashfs = "squashfs"
	RootfsTar      = "tar"
)

// OutputSettings are output settings as text, from an output block or
// from pack and build's flags; nil is a setting not given.
type OutputSettings struct {
	Type, Compression, RootfsFormat *string
}

// OutputProblem names the output rule a setting breaks.
type OutputProblem int

const (
	// InvalidOutputType: the type is not split or unified.
	InvalidOutputType OutputProblem = iota + 1
	// InvalidCompression: the compression does not parse.
	InvalidCompression
	// InvalidRootfsFormat: the rootfs format is not squashfs or tar.
	InvalidRootfsFormat
	// UnifiedSquashfs: a unified image holds its rootfs as tar entries.
	UnifiedSquashfs
)

// OutputError is one broken output rule. The recipe decoder and the
// flags phrase it in their own words, so it carries what they need.
type OutputError struct {
	Problem OutputProblem
	// Value is the setting refused; Err the compression parser's reason.
	Value string
	Err   error
}

func (e *OutputError) Error() string {
	switch e.Problem {
	case InvalidOutputType:
		return fmt.Sprintf("invalid output type %q", e.Value)
	case InvalidCompression:
		return fmt.Sprintf("invalid compression %q: %v", e.Value, e.Err)
	case InvalidRootfsFormat:
		return fmt.Sprintf("invalid rootfs format %q", e.Value)
	}
	return "a unified image cannot hold a squashfs rootfs"
}

func (e *OutputError) Unwrap() error { return e.Err }

// DefaultOutput is what a recipe without an output block builds: a split
// image, xz, with a squashfs rootfs.
func DefaultOutput() Output {
	xz, _ := pack.ParseCompression("xz")
	return Output{Type: OutputSplit, Compression: xz, RootfsFormat: RootfsSquashfs}
}

// Merge is the one place the output rules live: it returns out with the
// given settings applied, and every rule they break, in the order type,
// compression, rootfs format, combination. A changed type takes that
// type's rootfs format unless one is given: squashfs for split, tar (the
// only one) for unified. A refused setting leaves its field as it was.
func (out Output) Merge(s OutputSettings) (Output, []*OutputError) {
	var problems []*OutputError
	if s.Type != nil {
		switch typ := *s.Type; {
		case typ != OutputSplit && typ != OutputUnified:
			problems = append(problems, &OutputError{Problem: InvalidOutputType, Value: typ})
		case typ != out.Type && s.RootfsFormat == nil:
			out.RootfsFormat = defaultRootfsFormat(typ)
			fallthrough
		default:
			out.Type = typ
		}
	}
	if s.Compression != nil {
		c, err := pack.ParseCompression(*s.Compression)
		if err != nil {
			problems = append(problems, &OutputError{Problem: InvalidCompression, Value: *s.Compression, Err: err})
		} else {
			out.Compression = c
		}
	}
	rootfsRefused := false
	if s.RootfsFormat != nil {
		if f := *s.RootfsFormat; f != RootfsSquashfs && f != RootfsTar {
			problems = append(problems, &OutputError{Problem: InvalidRootfsFormat, Value: f})
			rootfsRefused = true
		} else {
			out.RootfsFormat = f
		}
	}
	// A refused format is reported once, not again as a combination.
	if !rootfsRefused && out.Type == OutputUnified && out.RootfsFormat == RootfsSquashfs {
		problems = append(problems, &OutputError{Problem: UnifiedSquashfs, Value: out.RootfsFormat})
	}
	return out, problems
}

// defaultRootfsFormat is the rootfs format a type takes when none is given.
func defaultRootfsFormat(typ string) string {
	if typ == OutputUnified {
		return RootfsTar
	}
	return RootfsSquashfs
}

func decodeOutput(block *hclsyntax.Block, ctx *hcl.EvalContext, diags *hcl.Diagnostics) Output {
	out := DefaultOutput()
	if block == nil {
		return out
	}
	d := decodeAttrs(block, ctx, diags, blockSchemas["output"].attrs...)
	text := func(name string) *string {
		if v, ok := d.value(name, cty.String); ok {
			s := v.AsString()
			return &s
		}
		return nil
	}
	out, problems := out.Merge(OutputSettings{Type: text("type"), Compression: text("compression"), RootfsFormat: text("rootfs")})
	out.Range = block.DefRange()
	for _, p := range problems {
		switch p.Problem {
		case InvalidOutputType:
			d.errorf("type", "Invalid output type", "The output type must be \"split\" (a metadata tarball and a rootfs file) or \"unified\" (one tarball), not %q.", p.Value)
		case InvalidCompression:
			d.errorf("compression", "Invalid compression", "%q: %s.", p.Value, p.Err)
		case InvalidRootfsFormat:
			d.errorf("rootfs", "Invalid rootfs format", "The rootfs format must be \"squashfs\" or \"tar\", not %q.", p.Value)
		case UnifiedSquashfs:
			d.errorf("rootfs", "Invalid output combination", "A unified image holds its rootfs as rootfs/ entries of the one tarball, so rootfs = \"squashfs\" needs type = \"split\".")
		}
	}
	return out
}
