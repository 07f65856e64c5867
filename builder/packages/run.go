package packages

import (
	"context"
	"errors"

	"github.com/builder-images/builder/builder/step"
)

// Run carries out the packages block in the image rt gives. With the
// build's cache, the shared download directory is bound over the
// manager's own while it runs; the cleanup runs after the bind is gone,
// so it empties the image's directory and not the shared one.
func (p *Config) Run(ctx context.Context, rt step.Runtime) error {
	return withPins(rt.ImageDir(), p.Pins, func() error { return p.run(ctx, rt) })
}

func (p *Config) run(ctx context.Context, rt step.Runtime) error {
	kind, err := lookup(p.Manager)
	if err != nil {
		return err
	}
	pm := kind.New(func(ctx context.Context, argv ...string) error {
		return rt.Exec(ctx, step.Command{Label: p.Manager, Argv: argv})
	})
	if kind.DownloadDir == "" {
		return Apply(ctx, pm, p)
	}
	undo, shared, err := rt.ShareDownloads(ctx, kind.DownloadDir)
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
