package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/builder-images/builder/builder/sbom"
)

// sbomFormats are the formats `builder sbom` prints.
var sbomFormats = []string{"spdx-json", "cyclonedx-json"}

func (a *app) newSBOMCommand() *cobra.Command {
	format := "spdx-json"
	cmd := &cobra.Command{
		Use:   "sbom OUTDIR [--format spdx-json|cyclonedx-json]",
		Short: "Print an image's software bill of materials",
		Long: `sbom prints the SBOM that build and pack wrote into the output directory
OUTDIR (sbom.spdx.json, SPDX 2.3 JSON), after checking it against the sha256
image.json records: as it is (--format spdx-json), or converted to CycloneDX
1.6 JSON (--format cyclonedx-json) with the same components, hashes, purls
and licence expressions.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != sbomFormats[0] && format != sbomFormats[1] {
				return usageError{fmt.Errorf("--format %q: want spdx-json or cyclonedx-json", format)}
			}
			j, data, err := sbom.ReadDir(args[0])
			if err != nil {
				return err
			}
			if format == "cyclonedx-json" {
				if data, err = sbom.CycloneDX(data, j); err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
			}
			_, err = a.stdout.Write(data)
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", format, "spdx-json or cyclonedx-json")
	return cmd
}
