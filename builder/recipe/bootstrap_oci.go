package recipe

import (
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/builder-images/builder/builder/bootstrap"
)

// ociBlock decodes an oci block's image, digest and layout: one of image
// (a registry reference) and layout (an OCI image layout directory,
// where image is then the ref.name of one of its images) is required;
// digest pins the manifest (or the index holding it).
func (s *stepDecoder) ociBlock(b *hclsyntax.Block, d *attrDecoder, bs *bootstrap.Config) {
	bs.Image = d.str("image", "")
	bs.Digest = d.str("digest", "")
	if bs.Digest != "" {
		if _, err := bootstrap.ParseDigest(bs.Digest); err != nil {
			d.errorf("digest", "Invalid digest", "The digest %s: it pins the image's manifest, or the index holding it, by the digest its registry states.", err)
		}
	}
	switch {
	case d.has("layout"):
		bs.Layout = s.ociLayout(d)
	case !d.has("image"):
		s.errorAt(b.DefRange(), "Missing image",
			`An oci block needs image = "HOST[:PORT]/NAME:TAG" (or NAME@sha256:…) from a registry, or layout = "DIR", an OCI image layout directory.`)
	case bs.Image == "":
		if !s.disabled {
			d.errorf("image", "Missing image", `The image is empty: an oci block needs image = "HOST[:PORT]/NAME:TAG" (or NAME@sha256:…), or layout = "DIR".`)
		}
	default:
		if _, err := bootstrap.ParseImageReference(bs.Image); err != nil {
			d.errorf("image", "Invalid image reference", "The image %s.", err)
		}
	}
}

// ociLayout resolves a layout directory against the recipe's directory
// and checks it is one: an oci-layout file and an index.json.
func (s *stepDecoder) ociLayout(d *attrDecoder) string {
	p := d.str("layout", "")
	if p == "" {
		return ""
	}
	dir := s.resolvePath(p)
	if s.disabled {
		return dir
	}
	for _, name := range []string{"oci-layout", "index.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			d.errorf("layout", "Invalid OCI layout", "The layout %s is not an OCI image layout: its %s cannot be read: %s. Relative paths are resolved against the recipe's directory.", dir, name, fsErr(err))
			break
		}
	}
	return dir
}
