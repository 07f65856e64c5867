package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/builder-images/builder/builder/recipe"
)

type validateOptions struct {
	recipeOptions
	json bool
}

func (a *app) newValidateCommand() *cobra.Command {
	opts := &validateOptions{}
	cmd := &cobra.Command{
		Use:   "validate RECIPE",
		Short: "Check a recipe without building it",
		Long: `Validate parses and evaluates a recipe with its variable values and
checks it as a build would, without root and without touching anything:
schema, types, references, architectures, compression, paths, templates,
and that a vm output installs a kernel and a bootloader. A recipe whose
outputs are for containers and virtual machines is evaluated for each
(build.type "container" and "vm"). Every problem is reported once, with
its file, line and column.

Exit status: 0 when valid, 1 when not, 2 for usage errors.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runValidate(opts, args[0])
		},
	}
	opts.AddFlags(cmd.Flags())
	cmd.Flags().BoolVar(&opts.json, "json", false, "print diagnostics as JSON (terraform validate -json shape)")
	a.addRecipeCompletion(cmd)
	return cmd
}

func (a *app) runValidate(opts *validateOptions, path string) error {
	plans, diags, loader := opts.loadEach(a, path)
	if opts.json {
		if err := recipe.WriteJSON(a.stdout, diags, loader.Files()); err != nil {
			return fmt.Errorf("writing JSON: %w", err)
		}
	} else {
		if err := a.writeDiagnostics(diags, loader.Files()); err != nil {
			return err
		}
	}
	if diags.HasErrors() {
		return &exitError{code: exitFailure, silent: true}
	}
	if !opts.json {
		plan := plans[0]
		counts := func(p *recipe.Plan) string {
			return fmt.Sprintf("%d steps enabled, %d templates", len(p.EnabledSteps()), countEnabledTemplates(p))
		}
		summary := counts(plan)
		if len(plans) > 1 {
			var each []string
			for _, p := range plans {
				each = append(each, p.InstanceType+": "+counts(p))
			}
			summary = strings.Join(each, "; ")
		}
		fmt.Fprintf(a.stdout, "%s is valid: image %s, %s\n",
			path, masker(plan.Image.Sensitive).text("name", plan.Image.Name), summary)
	}
	return nil
}

func countEnabledTemplates(p *recipe.Plan) int {
	n := 0
	for _, t := range p.Templates {
		if t.Enabled {
			n++
		}
	}
	return n
}
