package bootstrap

import (
	"context"
	"fmt"

	"github.com/builder-images/builder/builder/confined"
	"github.com/builder-images/builder/builder/recipe"
)

// directoryBackend copies a host directory, as it is, into the image.
type directoryBackend struct{}

func (directoryBackend) Bootstrap(ctx context.Context, _ Env, b *recipe.Bootstrap, dir string) error {
	if err := confined.CopyTree(ctx, b.Source, dir); err != nil {
		return fmt.Errorf("copying %s: %w", b.Source, err)
	}
	return nil
}
