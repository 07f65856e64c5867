package main

import (
	"context"
	"io"

	"github.com/builder-images/builder/builder/build"
	"github.com/builder-images/builder/builder/recipe"
)

// resolveBases resolves the bases of the selection's plans (see
// build.ResolveBases), the first plan's included when --only left it
// out: its image name names the output.
func (a *app) resolveBases(ctx context.Context, sel selection, locked bool, log io.Writer) error {
	plans := append([]*recipe.Plan{sel.first}, sel.plans...)
	return build.ResolveBases(ctx, plans, build.ResolveOptions{LookupEnv: environLookup(a.environ), Locked: locked, Log: log})
}
