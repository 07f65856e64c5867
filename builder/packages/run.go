package packages

import (
	"context"
	"errors"

	"github.com/builder-images/builder/builder/recipe"
	"github.com/builder-images/builder/builder/step"
)

// downloadDirs are where each manager keeps the packages it downloads in
// the image, which the build's cache shares between builds.
var downloadDirs = map[string]string{"apt": "/var/cache/apt/archives"}

// Run carries out a packages block in the image rt gives. With the
// build's cache, the shared download directory is bound over the
// manager's own while it runs; the cleanup runs after the bind is gone,
// so it empties the image's directory and not the shared one.
func Run(ctx context.Context, rt step.Runtime, p *recipe.Packages) error {
	pm, err := New(p.Manager, func(ctx context.Context, argv ...string) error {
		return rt.Exec(ctx, step.Command{Label: p.Manager, Argv: argv})
	})
	if err != nil {
		return err
	}
	dir, ok := downloadDirs[p.Manager]
	if !ok {
		return Apply(ctx, pm, p)
	}
	undo, shared, err := rt.ShareDownloads(ctx, dir)
	if err != nil {
		return err
	}
	if !shared {
		return Apply(ctx, pm, p)
	}
	during := *p
	during.Cleanup = false
	runErr := Apply(ctx, pm, &during)
	if err := undo(); err != nil {
		return errors.Join(runErr, err)
	}
	if runErr != nil || !p.Cleanup {
		return runErr
	}
	return pm.Cleanup(ctx)
}
