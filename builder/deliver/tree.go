package deliver

import (
	"context"
	"io"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/streams"
)

// Tree delivers into a simplestreams tree, in a directory or on S3,
// which LXD and Incus use as an image server remote (see
// streams.Tree.Publish).
type Tree struct {
	Tree *streams.Tree
	// Replace lets an image replace another already published under the
	// same version.
	Replace bool
}

// OpenTree opens the tree at target, a directory (created when missing)
// or s3://BUCKET/PREFIX configured from environ, logging each change on
// log and waiting at most lockTimeout (0: no limit) for another
// publisher's lock.
func OpenTree(target string, environ []string, log io.Writer, lockTimeout time.Duration) (*Tree, error) {
	store, err := streams.Open(target, environ, true)
	if err != nil {
		return nil, err
	}
	return &Tree{Tree: &streams.Tree{Store: store, Log: log, LockTimeout: lockTimeout}}, nil
}

// Deliver publishes the image of dir.
func (t *Tree) Deliver(ctx context.Context, dir string, _ image.ImageJSON) (Result, error) {
	results, err := t.DeliverAll(ctx, []string{dir})
	if err != nil {
		return Result{}, err
	}
	return results[0], nil
}

// DeliverAll publishes the images of dirs together: every file is
// uploaded first, then the index gains them all in one update under the
// tree's lock.
func (t *Tree) DeliverAll(ctx context.Context, dirs []string) ([]Result, error) {
	published, err := t.Tree.Publish(ctx, dirs, t.Replace)
	if err != nil {
		return nil, err
	}
	results := make([]Result, len(published))
	for i := range published {
		p := &published[i]
		results[i] = Result{Fingerprint: p.Fingerprint, Where: t.Tree.Store.String(), Uploaded: p.Status != "unchanged", Publish: p}
	}
	return results, nil
}
