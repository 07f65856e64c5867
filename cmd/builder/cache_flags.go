package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/builder-images/builder/builder/cache"
)

// addCacheFlags adds the flags that fill a build's cache policy.
func addCacheFlags(fs *pflag.FlagSet, p *cache.Policy, environ []string) {
	p.TTL = 7 * 24 * time.Hour
	fs.StringVar(&p.Dir, "cache-dir", defaultCacheDir(environ), "stage and package cache; \"\" builds without one ($BUILDER_CACHE_DIR, set and empty: none)")
	fs.BoolVar(&p.NoCache, "no-cache", false, "rebuild every stage, storing fresh snapshots")
	fs.Var((*days)(&p.TTL), "cache-ttl", "rebuild a bootstrap snapshot older than this (e.g. 7d, 36h; 0: never), so images get security updates")
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
