package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/treediff"
)

// The root filesystem of an existing image, unpacked into a build's
// image directory: what the image backend does once a base image's files
// are downloaded and checked against its fingerprint.

// unifiedRootfs is the directory of a unified image's tarball that holds
// its root filesystem.
const unifiedRootfs = "rootfs"

// baseFiles are a base image's files on the build host, already checked.
type baseFiles struct {
	// Metadata is a split image's metadata tarball, or a unified image's
	// one tarball.
	Metadata string
	// Rootfs is a split image's root filesystem, a squashfs or a tar
	// archive in any compression; "" for a unified image.
	Rootfs string
}

// sqfs2tarTool reads a squashfs base image: its output is a tar stream
// that the confined extractor checks entry by entry, as any archive, so
// no host tool ever writes into the image directory.
var sqfs2tarTool = Tool{Name: "sqfs2tar", Package: "squashfs-tools-ng", For: "recipes whose bootstrap \"image\" has a squashfs root filesystem"}

// extractBaseRootfs unpacks the root filesystem of the base image in
// files into root, through the confined extractor, up to maxSize (see
// confined.ExtractTar): a unified tarball's rootfs/ entries re-rooted,
// a split image's squashfs (read by sqfs2tar) or tar archive (plain or
// compressed, told apart by their first bytes). Errors name the file
// and, for a refused entry, the entry.
func extractBaseRootfs(ctx context.Context, files baseFiles, root string, maxSize int64) error {
	if files.Rootfs == "" {
		a, err := confined.OpenArchive(files.Metadata)
		if err != nil {
			return fmt.Errorf("unpacking the base image: %w", err)
		}
		err = confined.ExtractTarBelow(ctx, a, unifiedRootfs, root, maxSize)
		if err = errors.Join(err, a.Close()); err != nil {
			return fmt.Errorf("unpacking the base image %s: %w", files.Metadata, err)
		}
		return nil
	}
	src, err := treediff.Open(files.Rootfs)
	if err != nil {
		return fmt.Errorf("unpacking the base image: %w", err)
	}
	if src.Kind != treediff.KindSquashfs && src.Kind != treediff.KindArchive {
		return fmt.Errorf("unpacking the base image: %s is a %s, not a squashfs or an archive", files.Rootfs, src.Kind)
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
		return fmt.Errorf("unpacking the base image %s: %w", files.Rootfs, err)
	}
	return nil
}
