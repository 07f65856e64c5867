// Package deliver sends a built image where it is used, behind one
// interface, Target: a LXD or Incus daemon's image store (daemon.go:
// 'builder import', 'build --import') or a simplestreams tree in a
// directory or on S3 (tree.go: 'builder publish'). A new destination is
// one file implementing Target.
package deliver

import (
	"context"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/lxd"
	"github.com/builder-images/builder/builder/streams"
)

// Target receives the image of an output directory.
type Target interface {
	// Deliver sends the image in dir, whose image.json is j.
	Deliver(ctx context.Context, dir string, j image.ImageJSON) (Result, error)
}

// Result is what a target did with one image.
type Result struct {
	Fingerprint string
	// Where names the destination: a daemon's socket or URL, a tree.
	Where string
	// Uploaded is false when the destination held the image already.
	Uploaded bool
	// Aliases are the names the image has there now.
	Aliases []string
	// Import is what a daemon did, Publish what a tree did, in their
	// own terms (import --json prints Import).
	Import  *lxd.ImportResult
	Publish *streams.Result
}

// SettingsError is a target's settings that cannot work, found before
// anything is sent: a daemon name that is neither lxd nor incus, an alias
// the daemons refuse, certificates without a remote.
type SettingsError struct{ Err error }

func (e *SettingsError) Error() string { return e.Err.Error() }
func (e *SettingsError) Unwrap() error { return e.Err }

var (
	_ Target = (*Daemon)(nil)
	_ Target = (*Tree)(nil)
)
