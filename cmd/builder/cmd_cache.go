package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/builder-images/builder/builder/build"
	"github.com/builder-images/builder/builder/cache"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/output"
)

func (a *app) newCacheCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "List and prune the stage cache",
		Long: `builder build keeps a snapshot of the rootfs after each group of steps
(bootstrap; packages and the runs around them; files) and the packed
rootfs of split images in the cache directory (default ` + cache.DefaultDir + `),
and reuses them while their inputs are unchanged.`,
	}
	var dir string
	cmd.PersistentFlags().StringVar(&dir, "cache-dir", defaultCacheDir(a.environ), "the cache ($BUILDER_CACHE_DIR)")
	cmd.AddCommand(a.newCacheLsCommand(&dir), a.newCachePruneCommand(&dir))
	return cmd
}

// openExisting opens a cache that must already exist: listing or pruning
// a mistyped directory must not create it.
func openExisting(dir string) (*cache.Cache, error) {
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no cache in %s", dir)
		}
		return nil, err
	}
	return cache.Open(dir)
}

func (a *app) newCacheLsCommand(dir *string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the cache's entries, most recently used first, damaged ones with what is wrong",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := openExisting(*dir)
			if err != nil {
				return err
			}
			// ls removes no entry, but puts the layout right (a
			// symlink where a directory belongs) to read it.
			c.Report = func(d cache.Damage) { fmt.Fprintf(a.stderr, "builder: %v; removed it\n", d) }
			items, err := c.Items()
			if err != nil {
				return err
			}
			if asJSON {
				if items == nil {
					items = []cache.Item{}
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(items)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tSTAGE\tIMAGE\tSIZE\tCREATED\tLAST USED\tSTATUS")
			var total int64
			damaged := 0
			for _, it := range items {
				if it.Status == cache.StatusDamaged {
					// Its fields are not to be believed: the entry
					// and what is wrong with it are what it has.
					damaged++
					key := "-"
					if it.Key != "" {
						key = image.Short(it.Key)
					}
					fmt.Fprintf(tw, "%s\t%s\t\t\t\t\tdamaged: %s: %s\n", key, it.Kind, it.Entry, it.Problem)
					continue
				}
				total += it.Size
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", image.Short(it.Key), it.Group, it.Image, output.HumanSize(it.Size),
					it.Created.Local().Format("2006-01-02 15:04"), it.LastUsed.Local().Format("2006-01-02 15:04"), it.Status)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%d entries, %s in %s\n", len(items), output.HumanSize(total), c.Dir)
			if damaged > 0 {
				fmt.Fprintf(a.stdout, "%d damaged entries: builder cache prune removes them\n", damaged)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the entries as JSON")
	return cmd
}

func (a *app) newCachePruneCommand(dir *string) *cobra.Command {
	var olderThan days
	var maxSize string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove entries unused for a while, or the least recently used beyond a size",
		Long: `Prune removes damaged entries (see builder cache ls), the entries not used
for longer than --older-than, then the least recently used until the
cache is at most --max-size. It waits for builds using the cache to
finish. Without either flag it removes everything. It never removes
anything outside the cache directory, nor follows a symlink in it, but
one thing: the work directories of builds that used the cache and were
killed (kill -9, a crash), which no build owns any more, after proving
nothing is mounted below them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			limit, err := parseSize(maxSize)
			if err != nil {
				return usageError{fmt.Errorf("--max-size: %w", err)}
			}
			opts := cache.PruneOptions{OlderThan: time.Duration(olderThan), MaxSize: limit, DryRun: dryRun}
			if opts.OlderThan == 0 && opts.MaxSize == 0 {
				opts.OlderThan = -1 // everything: every entry is older than that
			}
			c, err := openExisting(*dir)
			if err != nil {
				return err
			}
			c.Report = func(d cache.Damage) { fmt.Fprintf(a.stdout, "%v; removed it\n", d) }
			removed, err := c.Prune(cmd.Context(), opts)
			verb := "removed"
			if dryRun {
				verb = "would remove"
			}
			var freed int64
			for _, it := range removed {
				if it.Status == cache.StatusDamaged {
					fmt.Fprintf(a.stdout, "%s damaged %s %s: %s\n", verb, it.Kind, it.Entry, it.Problem)
					continue
				}
				freed += it.Size
				fmt.Fprintf(a.stdout, "%s %s %s (%s, %s)\n", verb, it.Kind, image.Short(it.Key), it.Group, output.HumanSize(it.Size))
			}
			fmt.Fprintf(a.stdout, "%s %d entries, %s\n", verb, len(removed), output.HumanSize(freed))
			return errors.Join(err, a.pruneWorkDirs(c, dryRun, verb))
		},
	}
	cmd.Flags().Var(&olderThan, "older-than", "remove entries unused for longer than this (e.g. 7d, 12h)")
	cmd.Flags().StringVar(&maxSize, "max-size", "", "then remove the least recently used until the cache is at most this (e.g. 10G, 500M)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be removed")
	return cmd
}

// parseSize reads a byte count with an optional binary suffix: 10G,
// 500M, 1024K, 4096; "" is no limit.
func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	units := map[string]int64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(s), "B"), "I")
	unit := ""
	if n := len(t); n > 0 && strings.ContainsAny(t[n-1:], "KMGT") {
		unit, t = t[n-1:], t[:n-1]
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size such as 10G or 500M", s)
	}
	return int64(v * float64(units[unit])), nil
}

// pruneWorkDirs removes the work directories the cache records whose
// builds were killed, and says which.
func (a *app) pruneWorkDirs(c *cache.Cache, dryRun bool, verb string) error {
	removed, err := build.PruneWorkDirs(c, dryRun)
	for _, dir := range removed {
		fmt.Fprintf(a.stdout, "%s %s, the work directory of a build that was killed\n", verb, dir)
	}
	return err
}
