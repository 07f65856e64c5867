package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/treediff"
)

// The root filesystem of an existing image, unpacked into a build's
// image directory: what the image backend does once a base image's files
// are downloaded and checked against its fingerprint.

// unifiedRootfs is the directory of a unified image's tarball that holds
// its root filesystem.
const unifiedRootfs = "rootfs"

// sqfs2tarTool reads a squashfs base image: its output is a tar stream
// that the confined extractor checks entry by entry, as any archive, so
// no host tool ever writes into the image directory.
var sqfs2tarTool = Tool{Name: "sqfs2tar", Package: "squashfs-tools-ng", For: "recipes whose bootstrap \"image\" has a squashfs root filesystem"}

// extractBaseRootfs unpacks the root filesystem of a base image into
// root, through the confined extractor, up to maxSize (see
// confined.ExtractTar): path is a split image's rootfs file, a squashfs
// (read by sqfs2tar) or a tar archive (plain or compressed), told apart
// by their first bytes; or, when unified, a unified image's tarball, of
// which the rootfs/ entries are unpacked re-rooted. The image's files are
// checked against its fingerprint before this is called. Errors name the
// file and, for a refused entry, the entry.
func extractBaseRootfs(ctx context.Context, path string, unified bool, root string, maxSize int64) error {
	if unified {
		a, err := confined.OpenArchive(path)
		if err != nil {
			return fmt.Errorf("unpacking the base image: %w", err)
		}
		err = confined.ExtractTarBelow(ctx, a, unifiedRootfs, root, maxSize)
		if err = errors.Join(err, a.Close()); err != nil {
			return fmt.Errorf("unpacking the base image %s: %w", path, err)
		}
		// A virtual machine's unified tarball holds rootfs.img: taken
		// for a container's, it would leave the build nothing to build on.
		if entries, err := os.ReadDir(root); err != nil || len(entries) == 0 {
			return errors.Join(fmt.Errorf("unpacking the base image %s: it has no rootfs/ entries, so it holds no container's root filesystem", path), err)
		}
		return nil
	}
	src, err := treediff.Open(path)
	if err != nil {
		return fmt.Errorf("unpacking the base image: %w", err)
	}
	if src.Kind != treediff.KindSquashfs && src.Kind != treediff.KindArchive {
		return fmt.Errorf("unpacking the base image: %s is a %s, not a squashfs or an archive", path, src.Kind)
	}
	stream, err := src.Stream(ctx)
	if err != nil {
		return fmt.Errorf("unpacking the base image: %w", err)
	}
	err = confined.ExtractTar(ctx, stream, root, maxSize)
	if err == nil {
		// To the end, past the tar trailer, so that Close reports
		// a sqfs2tar that failed after it.
		_, err = io.Copy(io.Discard, stream)
	}
	if err = errors.Join(err, stream.Close()); err != nil {
		return fmt.Errorf("unpacking the base image %s: %w", path, err)
	}
	return nil
}
