package output

import (
	"context"
	"io"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/pack"
	"github.com/builder-images/builder/builder/recipe"
)

// unified is LXD's unified image: one tarball IMAGE-NAME.tar.EXT holding
// the metadata files, then the rootfs under rootfs/. Its fingerprint is
// the tarball's sha256. It cannot reuse a packed rootfs file.
type unified struct{}

func (unified) Name() string      { return recipe.OutputUnified }
func (unified) ImageType() string { return image.TypeUnified }

func (unified) FileNames(plan *recipe.Plan) []string {
	return []string{plan.Image.Name + ".tar" + plan.Output.Compression.Algorithm.Extension}
}

func (unified) Write(ctx context.Context, w *Writer) (Written, error) {
	info, err := w.Compressed(ctx, w.Plan.Image.Name+w.TarExt(), image.RoleUnified, func(out io.Writer) error {
		opts := w.Tar
		opts.Prefix = "rootfs/"
		tw, err := pack.NewTarWriter(out, opts)
		if err != nil {
			return err
		}
		if err := tw.WriteFiles(w.Metadata); err != nil {
			return err
		}
		if err := tw.WriteTree(ctx, w.Rootfs); err != nil {
			return err
		}
		return tw.Close()
	})
	if err != nil {
		return Written{}, err
	}
	return Written{Files: []image.FileInfo{info}}, nil
}
