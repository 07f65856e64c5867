package output

import (
	"context"
	"io"
	"path/filepath"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/pack"
	"github.com/builder-images/builder/builder/recipe"
)

// split is LXD's split image: the metadata tarball lxd.tar.EXT, then the
// rootfs as rootfs.squashfs or rootfs.tar.EXT. Its fingerprint is the
// sha256 of the two files' bytes in that order.
type split struct{}

func (split) Name() string      { return recipe.OutputSplit }
func (split) ImageType() string { return image.TypeSplit }

func (split) FileNames(plan *recipe.Plan) []string {
	ext := ".tar" + plan.Output.Compression.Algorithm.Extension
	return []string{"lxd" + ext, splitRootfsName(plan)}
}

// splitRootfsName is the rootfs file's name.
func splitRootfsName(plan *recipe.Plan) string {
	if plan.Output.RootfsFormat == recipe.RootfsSquashfs {
		return "rootfs.squashfs"
	}
	return "rootfs.tar" + plan.Output.Compression.Algorithm.Extension
}

func (split) Write(ctx context.Context, w *Writer) (Written, error) {
	metadata, err := w.writeMetadata(ctx)
	if err != nil {
		return Written{}, err
	}
	rootfs, err := writeSplitRootfs(ctx, w)
	if err != nil {
		return Written{}, err
	}
	return Written{Files: []image.FileInfo{metadata, rootfs}}, nil
}

// writeMetadata writes a split image's metadata tarball, lxd.tar.EXT.
func (w *Writer) writeMetadata(ctx context.Context) (image.FileInfo, error) {
	return w.Compressed(ctx, "lxd"+w.TarExt(), image.RoleMetadata, func(out io.Writer) error {
		_, err := pack.WriteFiles(out, w.Metadata, w.Tar)
		return err
	})
}

// writeSplitRootfs copies the reused rootfs file, or packs the tree as
// squashfs or a compressed tarball.
func writeSplitRootfs(ctx context.Context, w *Writer) (image.FileInfo, error) {
	out := w.Plan.Output
	name := splitRootfsName(w.Plan)
	var info pack.FileInfo
	var err error
	switch {
	case w.Reuse != nil:
		w.Logf("==> reusing %s from the cache\n", name)
		info, err = copyReused(ctx, w.Reuse, w.Dir, name)
	case out.RootfsFormat == recipe.RootfsSquashfs:
		w.Logf("==> packing %s (mksquashfs, %s)\n", name, out.Compression.Algorithm.Name)
		info, err = pack.WriteSquashfs(ctx, w.Rootfs, filepath.Join(w.Dir, name),
			pack.SquashfsOptions{Compression: out.Compression, Epoch: w.Epoch, Processors: w.Threads})
	default:
		return w.Compressed(ctx, name, image.RoleRootfs, func(out io.Writer) error {
			_, err := pack.WriteTree(ctx, out, w.Rootfs, w.Tar)
			return err
		})
	}
	if err != nil {
		return image.FileInfo{}, err
	}
	return w.Record(info, image.RoleRootfs), nil
}
