package output

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/pack"
	"github.com/builder-images/builder/builder/recipe"
	"github.com/builder-images/builder/builder/sbom"
)

// ErrReusedChanged is a ReusedRootfs whose bytes are no longer the ones
// kept: the caller drops the entry and packs the rootfs instead.
var ErrReusedChanged = errors.New("the cached rootfs file changed")

// ReusedRootfs is a packed file kept by the stage cache (a split image's
// rootfs file, a VM image's disk), which is untrusted: the file is
// copied under the name this build would give it, never the one the
// cache records, and kept only with the sha256 recorded when it was
// stored.
type ReusedRootfs struct {
	// Path names the file in messages; Open opens it inside the cache.
	Path     string
	Open     func() (*os.File, error)
	Info     image.FileInfo
	Packages []image.Package
	// Facts are what the SBOM was written from; a build without them
	// cannot write the SBOM, and packs the rootfs instead.
	Facts *sbom.Facts
	// Disk is a VM disk's record, as image.json has it (checked by the
	// cache); nil for a rootfs file.
	Disk *image.Disk
}

// reusing are the output types whose kind copies Writer.Reuse, when
// set, instead of packing the rootfs into that file: a split image's
// rootfs file, a VM image's disk. A kind joins once its Write does.
var reusing = []string{recipe.OutputSplit, recipe.OutputVM}

// Reuses reports whether an output's packed file can come from the
// cache (see PackOptions.Reuse). A unified VM image's cannot: its disk
// is a member of the one tarball, never a file of the output directory
// for the cache to keep.
func Reuses(out recipe.Output) bool {
	return slices.Contains(reusing, out.Type) && !(out.Type == recipe.OutputVM && out.VM.Unified)
}

// copyReused copies a cached rootfs file into the output directory as
// name, checking its sha256 on the way: a cache is only a hint. Any
// problem with the kept file is ErrReusedChanged, for the caller to drop
// it and pack the rootfs instead.
func copyReused(ctx context.Context, r *ReusedRootfs, outDir, name string) (pack.FileInfo, error) {
	if r.Info.Name != name {
		return pack.FileInfo{}, fmt.Errorf("%w: %s is recorded as %q, not %q", ErrReusedChanged, r.Path, r.Info.Name, name)
	}
	src, err := r.Open()
	if err != nil {
		return pack.FileInfo{}, fmt.Errorf("%w: %w", ErrReusedChanged, err)
	}
	defer src.Close()
	none, _ := pack.ParseCompression("none")
	info, err := pack.WriteCompressed(ctx, filepath.Join(outDir, name), none, 1, func(w io.Writer) error {
		_, err := io.Copy(w, src)
		return err
	})
	if err != nil {
		return info, fmt.Errorf("reusing %s: %w", r.Path, err)
	}
	if info.SHA256 != r.Info.SHA256 || info.Size != r.Info.Size {
		_ = os.Remove(filepath.Join(outDir, name))
		return info, fmt.Errorf("%w: %s has sha256 %s, not the recorded %s", ErrReusedChanged, r.Path, info.SHA256, r.Info.SHA256)
	}
	return info, nil
}
