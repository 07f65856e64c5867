package build

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/recipe"
)

// ResolveOptions are what resolving the plans' bases may use.
type ResolveOptions struct {
	// LookupEnv reads builder's environment (daemon sockets, client
	// configuration, credentials).
	LookupEnv func(string) (string, bool)
	// Locked is build --locked: a name that can move must be pinned.
	Locked bool
	// Log hears what was resolved and what the recipe overrode.
	Log io.Writer
}

// ResolveBases is the resolve phase of every command that builds or
// keys a plan (build, rootfs, lock, pack; repro through its builds): a
// bootstrap block that starts from an existing image (bootstrap.Resolver)
// is asked what its alias or tag names now, before any lock is read or
// cache key computed, so that the stage cache keys on the base's
// fingerprint and every plan builds on the same base. The base's
// templates and properties are merged into each plan
// (recipe.Plan.ApplyBase), what the merge overrode said on Log.
func ResolveBases(ctx context.Context, plans []*recipe.Plan, opts ResolveOptions) error {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	// The instance types' plans share their bootstrap block: it is
	// resolved once, so a base moved in between cannot split them.
	resolved := map[string]*bootstrap.Base{}
	applied := map[*recipe.Plan]bool{}
	for _, plan := range plans {
		cfg := plan.Bootstrap()
		if cfg == nil || applied[plan] {
			continue
		}
		applied[plan] = true
		base := cfg.Base
		if base == nil {
			key, err := json.Marshal(struct {
				Cfg  *bootstrap.Config
				Arch image.Architecture
			}{cfg, plan.Image.Architecture})
			if err != nil {
				return fmt.Errorf("resolving the base image: %w", err)
			}
			var ok bool
			if base, ok = resolved[string(key)]; !ok {
				env := bootstrap.ResolveEnv{Arch: plan.Image.Architecture, LookupEnv: opts.LookupEnv, Locked: opts.Locked, Log: log}
				if base, err = bootstrap.Resolve(ctx, env, cfg); err != nil {
					return at(plan, cfg, err)
				}
				resolved[string(key)] = base
			}
		}
		if base == nil {
			continue
		}
		// A plan copied from another (pack's) shares its steps: the
		// block may hold the base already.
		cfg.Base = base
		for _, note := range plan.ApplyBase(base) {
			fmt.Fprintf(log, "    %s\n", note)
		}
		if err := plan.CheckBaseTemplates(base); err != nil {
			return at(plan, cfg, fmt.Errorf("the base image's templates: %w", err))
		}
	}
	return nil
}

// at prefixes err with the position of the plan's bootstrap block, cfg.
func at(plan *recipe.Plan, cfg *bootstrap.Config, err error) error {
	for _, s := range plan.Steps {
		if s.Action == cfg && s.Range.Filename != "" {
			return fmt.Errorf("%s:%d:%d: %w", s.Range.Filename, s.Range.Start.Line, s.Range.Start.Column, err)
		}
	}
	return err
}
