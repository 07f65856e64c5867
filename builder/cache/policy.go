package cache

import (
	"context"
	"time"
)

// Policy is how a build uses the cache, from the command line to the
// rootfs stage: the flags fill it, a build request carries it, and the
// isolated stage receives it inside its own request.
type Policy struct {
	// Dir is the cache directory; "" builds without a cache.
	Dir string `json:"dir,omitempty"`
	// NoCache rebuilds every group (and stores fresh snapshots).
	NoCache bool `json:"no_cache,omitempty"`
	// TTL is how old a bootstrap snapshot may be before it is rebuilt,
	// so images still get security updates; 0 means no limit.
	TTL time.Duration `json:"ttl"`
	// Since, when set, makes snapshots stored before it unusable: a
	// --no-cache build's later stages (one per instance type) share
	// the snapshots its first stage stored, and no older ones.
	Since time.Time `json:"since,omitzero"`
}

// Lock opens the cache and holds its lock, shared, until unlock: prune
// waits rather than deleting a snapshot a build is about to restore. A
// nil cache means the policy uses none.
func (p Policy) Lock(ctx context.Context) (c *Cache, unlock func(), err error) {
	if p.Dir == "" {
		return nil, func() {}, nil
	}
	if c, err = Open(p.Dir); err != nil {
		return nil, nil, err
	}
	if unlock, err = c.Lock(ctx, false); err != nil {
		return nil, nil, err
	}
	return c, unlock, nil
}
