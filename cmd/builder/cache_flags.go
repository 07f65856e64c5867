package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/stage"
)

// cacheOptions are build's stage cache flags.
type cacheOptions struct {
	dir     string
	noCache bool
	ttl     days
}

func (o *cacheOptions) AddFlags(fs *pflag.FlagSet, environ []string) {
	def := defaultCacheDir(environ)
	o.ttl = days(7 * 24 * time.Hour)
	fs.StringVar(&o.dir, "cache-dir", def, "stage and package cache; \"\" builds without one ($BUILDER_CACHE_DIR, set and empty: none)")
	fs.BoolVar(&o.noCache, "no-cache", false, "rebuild every stage, storing fresh snapshots")
	fs.Var(&o.ttl, "cache-ttl", "rebuild a bootstrap snapshot older than this (e.g. 7d, 36h; 0: never), so images get security updates")
}

// defaultCacheDir is $BUILDER_CACHE_DIR when set, even to "" (no cache:
// what the tests set, so that no build of theirs is served from a cache
// by accident), else cache.DefaultDir.
func defaultCacheDir(environ []string) string {
	if dir, ok := environLookup(environ)("BUILDER_CACHE_DIR"); ok {
		return dir
	}
	return cache.DefaultDir
}

// lockCache opens the cache and holds its lock, shared, until unlock:
// prune waits rather than deleting a snapshot this build is about to
// restore. A nil cache means the build uses none.
func (o *cacheOptions) lockCache(ctx context.Context) (c *cache.Cache, unlock func(), err error) {
	if o.dir == "" {
		return nil, func() {}, nil
	}
	if c, err = cache.Open(o.dir); err != nil {
		return nil, nil, err
	}
	if unlock, err = c.Lock(ctx, false); err != nil {
		return nil, nil, err
	}
	return c, unlock, nil
}

// stageFlags are the flags that pass the cache to the isolated child.
func (o *cacheOptions) stageFlags(recipePath string) ([]string, error) {
	if o.dir == "" {
		return nil, nil
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return nil, err
	}
	recipe, err := filepath.Abs(recipePath)
	if err != nil {
		return nil, err
	}
	flags := []string{"--cache-dir", dir, "--cache-ttl", time.Duration(o.ttl).String(), "--cache-recipe", recipe}
	if o.noCache {
		flags = append(flags, "--no-cache")
	}
	return flags, nil
}

// stageCacheFlags are the child's side of stageFlags.
type stageCacheFlags struct {
	dir, recipe string
	ttl         time.Duration
	noCache     bool
}

func (f *stageCacheFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.dir, "cache-dir", "", "stage cache")
	fs.DurationVar(&f.ttl, "cache-ttl", 0, "bootstrap snapshot lifetime")
	fs.StringVar(&f.recipe, "cache-recipe", "", "the recipe's absolute path")
	fs.BoolVar(&f.noCache, "no-cache", false, "rebuild every stage")
}

func (f *stageCacheFlags) open() (*stage.Cache, error) {
	if f.dir == "" {
		return nil, nil
	}
	c, err := cache.Open(f.dir)
	if err != nil {
		return nil, err
	}
	return &stage.Cache{Cache: c, TTL: f.ttl, NoCache: f.noCache, Recipe: f.recipe}, nil
}

// days is a duration flag that also takes days: 7d, 1d12h.
type days time.Duration

func (d *days) String() string { return formatDays(time.Duration(*d)) }
func (d *days) Type() string   { return "duration" }

func (d *days) Set(s string) error {
	v, err := parseDays(s)
	if err != nil {
		return err
	}
	*d = days(v)
	return nil
}

// parseDays reads a Go duration with an optional leading whole number
// of days: "7d", "1d12h", "36h", "0".
func parseDays(s string) (time.Duration, error) {
	var total time.Duration
	if n, rest, ok := strings.Cut(s, "d"); ok {
		count, err := strconv.Atoi(n)
		if err != nil || count < 0 {
			return 0, fmt.Errorf("%q: want a duration such as 7d, 36h or 1d12h", s)
		}
		total = time.Duration(count) * 24 * time.Hour
		s = rest
		if s == "" {
			return total, nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q: want a duration such as 7d, 36h or 1d12h", s)
	}
	return total + v, nil
}

func formatDays(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
