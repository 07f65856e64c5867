package imagetest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/lxd"
)

// uploadWait bounds how long Cleanup waits for an interrupted upload's
// image to appear: the daemon stores an image whose bytes all arrived
// even when the client gave up waiting, within seconds for test images.
const uploadWait = 10 * time.Second

// awaitUpload learns what an interrupted upload into opts.Project did:
// the image appearing within uploadWait is this run's (it was not there
// before the upload).
func (d *DaemonBackend) awaitUpload(ctx context.Context) {
	deadline := time.Now().Add(uploadWait)
	for {
		_, err := d.c.Image(ctx, d.fingerprint)
		if err == nil {
			d.uploaded = true
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	d.uploading = false
}

// deleteUploaded deletes the image this run stored in opts.Project,
// unless something else came to depend on it meanwhile: an alias other
// than the test's, or an instance made from it.
func (d *DaemonBackend) deleteUploaded(ctx context.Context) error {
	aliases, instances, err := lxd.ImageUsers(ctx, d.c, d.fingerprint)
	switch {
	case lxd.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("checking who uses image %s: %w", image.Short(d.fingerprint), err)
	}
	aliases = slices.DeleteFunc(aliases, func(a string) bool { return a == d.alias })
	if len(aliases) > 0 || len(instances) > 0 {
		return nil
	}
	err = d.c.DeleteImage(ctx, d.fingerprint)
	if err != nil && !lxd.IsNotFound(err) {
		return fmt.Errorf("deleting image %s: %w", image.Short(d.fingerprint), err)
	}
	return nil
}
