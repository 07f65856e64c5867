package recipe

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// decodeOutputs decodes every output block in recipe order; a recipe
// without one builds DefaultOutput, unnamed. Several blocks each need a
// name, unique in the recipe: it names the output's directory.
func decodeOutputs(blocks []*hclsyntax.Block, ctx *hcl.EvalContext, diags *hcl.Diagnostics) []Output {
	if len(blocks) == 0 {
		return []Output{DefaultOutput()}
	}
	var outs []Output
	named := map[string]*hclsyntax.Block{}
	for _, b := range blocks {
		out := decodeOutput(b, ctx, diags)
		if len(b.Labels) > 0 {
			out.Name = b.Labels[0]
		}
		switch prev, dup := named[out.Name]; {
		case out.Name == "" && len(blocks) > 1:
			rng := b.DefRange()
			*diags = append(*diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unnamed output block",
				Detail:   fmt.Sprintf("This recipe has %d output blocks, so each needs a name, such as output \"container\" { … } and output \"vm\" { … }: the name is the output's directory under --output.", len(blocks)),
				Subject:  &rng,
			})
		case dup:
			rng := b.LabelRanges[0]
			*diags = append(*diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate output block",
				Detail: fmt.Sprintf("An output named %q is already defined at %s:%d; each output needs a name of its own.",
					out.Name, prev.DefRange().Filename, prev.DefRange().Start.Line),
				Subject: &rng,
			})
		default:
			if out.Name != "" {
				if msg := checkFileLabel("output name", out.Name); msg != "" {
					rng := b.LabelRanges[0]
					*diags = append(*diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid output name", Detail: "The " + msg, Subject: &rng})
				}
			}
			named[out.Name] = b
		}
		outs = append(outs, out)
	}
	return outs
}

// decodeOutput decodes one output block: its settings go through
// Output.Merge, as the flags' do, and each problem is reported at the
// attribute that caused it.
func decodeOutput(block *hclsyntax.Block, ctx *hcl.EvalContext, diags *hcl.Diagnostics) Output {
	d := decodeAttrs(block, ctx, diags, blockSchemas["output"].attrs...)
	text := func(name string) *string {
		if v, ok := d.value(name, cty.String); ok {
			s := v.AsString()
			return &s
		}
		return nil
	}
	flag := func(name string) *bool {
		if v, ok := d.value(name, cty.Bool); ok {
			b := v.True()
			return &b
		}
		return nil
	}
	out, problems := DefaultOutput().Merge(OutputSettings{
		Type: text("type"), Compression: text("compression"), RootfsFormat: text("rootfs"),
		Size: text("size"), Filesystem: text("filesystem"), SecureBoot: flag("secure_boot"), Format: text("format"),
		Unified: flag("unified"),
	})
	out.Range = block.DefRange()
	for _, p := range problems {
		switch p.Problem {
		case InvalidOutputType:
			d.errorf("type", "Invalid output type", "The output type must be \"split\" (a metadata tarball and a rootfs file), \"unified\" (one tarball) or \"vm\" (a virtual machine's disk image), not %q.", p.Value)
		case InvalidCompression:
			d.errorf("compression", "Invalid compression", "%q: %s.", p.Value, p.Err)
		case InvalidRootfsFormat:
			d.errorf("rootfs", "Invalid rootfs format", "The rootfs format must be \"squashfs\" or \"tar\", not %q.", p.Value)
		case UnifiedSquashfs:
			d.errorf("rootfs", "Invalid output combination", "A unified image holds its rootfs as rootfs/ entries of the one tarball, so rootfs = \"squashfs\" needs type = \"split\".")
		case RootfsOnVM:
			d.errorf("rootfs", "Invalid output combination", "A vm image holds its root filesystem in its disk (see size and filesystem), so rootfs is for split and unified images only.")
		case VMSettingOnContainer:
			if p.Setting == "unified" {
				d.errorf(p.Setting, "Invalid output combination", "unified packs a virtual machine's image as one tarball, so it needs type = \"vm\"; a container image is unified with type = \"unified\", and this output is %s.", out.Type)
				break
			}
			d.errorf(p.Setting, "Invalid output combination", "%s sets up a virtual machine's disk, so it needs type = \"vm\"; this output is %s.", p.Setting, out.Type)
		case InvalidVMSize:
			d.errorf("size", "Invalid disk size", "size: %s; write a size such as \"4GiB\" or \"8G\", or a number of bytes.", p.Err)
		case InvalidFilesystem:
			if p.Err != nil {
				d.errorf("filesystem", "Unsupported filesystem", "A %s root filesystem is not supported yet; use %q.", p.Value, FilesystemExt4)
			} else {
				d.errorf("filesystem", "Invalid filesystem", "The filesystem of a vm disk must be %q, not %q.", FilesystemExt4, p.Value)
			}
		case InvalidDiskFormat:
			d.errorf("format", "Invalid disk format", "The disk format must be %q (what LXD and Incus import), not %q.", DiskQcow2, p.Value)
		}
	}
	return out
}
