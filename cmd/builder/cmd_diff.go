package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/builder-images/builder/builder/sbom"
)

// exitDiffers is diff's and cmp's status for inputs that differ; their
// 2 for trouble is builder's exitUsage, which diff also returns when a
// comparison fails.
const exitDiffers = 1

func (a *app) newDiffCommand() *cobra.Command {
	var asJSON, packagesOnly bool
	var maxPaths int
	cmd := &cobra.Command{
		Use:   "diff OUTDIR_A OUTDIR_B",
		Short: "Compare two built images: packages added, removed, upgraded, and the rootfs beyond them",
		Long: `diff compares the images in two output directories (each with its
image.json). It lists the packages B adds, removes, upgrades and downgrades
compared with A (dpkg's version order), then reads both root filesystems
(a split image's rootfs file or a unified image's rootfs/; not a VM's disk)
and lists the paths that differ beyond what the package changes account
for: the files a changed package's dpkg file list names in either image,
dpkg's records of it and dpkg's status.

Exit status, as diff(1): 0 the same image (one fingerprint), 1 the images
differ, 2 trouble (a usage error, an unreadable image).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if maxPaths < 0 {
				return usageError{errors.New("--max-paths must not be negative")}
			}
			d, err := sbom.DiffImages(cmd.Context(), args[0], args[1], !packagesOnly)
			if err != nil {
				if cmd.Context().Err() != nil {
					return err // interrupted: 130
				}
				return &exitError{code: exitUsage, err: err}
			}
			if asJSON {
				if d.Packages == nil {
					d.Packages = []sbom.Change{}
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				err = enc.Encode(d)
			} else {
				err = d.Write(a.stdout, maxPaths)
			}
			if err != nil {
				// Not 1: that would say the images differ.
				return &exitError{code: exitUsage, err: fmt.Errorf("printing the comparison: %w", err)}
			}
			if !d.Same() {
				return &exitError{code: exitDiffers, silent: true}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the comparison as one JSON object")
	cmd.Flags().BoolVar(&packagesOnly, "packages-only", false, "compare the packages only, without reading the root filesystems")
	cmd.Flags().IntVar(&maxPaths, "max-paths", 100, "print at most this many differing paths (0: all; --json has them all)")
	return cmd
}
