package bootstrap

import (
	"context"
	"errors"

	"github.com/builder-images/builder/builder/confined"
)

// extractBaseRootfs unpacks a base image's rootfs file into root, bounded
// by max: a tar archive in any compression through the confined
// extractor. Helper B of issue 18 extends it to squashfs and unified
// images.
func extractBaseRootfs(ctx context.Context, path string, unified bool, root string, max int64) error {
	if unified {
		return errors.New("unified base images are not supported yet")
	}
	return confined.ExtractArchive(ctx, path, root, max)
}
