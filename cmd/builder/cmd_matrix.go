package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// matrixJob is one job as CI engines read it: GitHub Actions takes the
// list as a dynamic matrix's "include".
type matrixJob struct {
	Name   string `json:"name"`
	Recipe string `json:"recipe"`
	Image  string `json:"image"`
	// Architecture is the distribution's name (amd64, arm64): what a
	// workflow compares with its runner's to decide on emulation.
	Architecture    string            `json:"architecture"`
	LXDArchitecture string            `json:"lxd_architecture"`
	Variables       map[string]string `json:"variables"`
	Vars            []string          `json:"vars"`
}

func (a *app) newMatrixCommand() *cobra.Command {
	opts := &recipeOptions{}
	var asJSON bool
	var format string
	cmd := &cobra.Command{
		Use:   "matrix RECIPE…",
		Short: "List the build jobs of recipes' matrix blocks, for a CI engine",
		Long: `Matrix expands each recipe's matrix block into jobs, one per
combination of its axes, each checked by loading the recipe with its
values. --json prints {"include": [...]}, the shape of a GitHub Actions
dynamic matrix; --format gitlab prints a GitLab child pipeline. A job is
built with 'builder build RECIPE --job NAME'. See docs/ci.md.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				format = "json"
			}
			jobs, err := a.matrixJobs(opts, args)
			if err != nil {
				return err
			}
			return a.printMatrix(format, jobs)
		},
	}
	opts.AddFlags(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the jobs as a GitHub Actions matrix: {\"include\": [...]}")
	cmd.Flags().StringVar(&format, "format", "text", "text, json or gitlab")
	a.addRecipeCompletion(cmd)
	return cmd
}

// matrixJobs loads each recipe and each of its jobs; a job whose values
// the recipe refuses is reported with the job's name, and fails the list.
func (a *app) matrixJobs(opts *recipeOptions, recipes []string) ([]matrixJob, error) {
	var jobs []matrixJob
	seen := map[string]string{}
	for _, path := range recipes {
		plan, err := a.loadForBuild(opts, path)
		if err != nil {
			return nil, err
		}
		for _, job := range plan.Jobs() {
			if other, dup := seen[job.Name]; dup {
				return nil, usageError{fmt.Errorf("job %s comes from both %s and %s; rename one recipe file", job.Name, other, path)}
			}
			seen[job.Name] = path
			jobOpts := &recipeOptions{vars: append(slices.Clone(opts.vars), job.Vars...), varFiles: opts.varFiles}
			jp, diags, loader := jobOpts.load(a, path)
			if diags.HasErrors() {
				fmt.Fprintf(a.stderr, "builder: job %s (%s):\n", job.Name, strings.Join(job.Vars, " "))
				if err := a.writeDiagnostics(diags, loader.Files()); err != nil {
					return nil, err
				}
				return nil, &exitError{code: exitUsage, silent: true, err: errors.New("invalid job")}
			}
			jobs = append(jobs, matrixJob{
				Name: job.Name, Recipe: path, Image: jp.Image.Name,
				Architecture: jp.Image.Architecture.Distribution, LXDArchitecture: jp.Image.Architecture.LXD,
				Variables: job.Values, Vars: job.Vars,
			})
		}
	}
	return jobs, nil
}

func (a *app) printMatrix(format string, jobs []matrixJob) error {
	switch format {
	case "json":
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(map[string][]matrixJob{"include": jobs})
	case "gitlab":
		return writeGitLabPipeline(a.stdout, jobs)
	case "text":
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "JOB\tRECIPE\tIMAGE\tARCH\tVARIABLES")
		for _, j := range jobs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.Name, j.Recipe, j.Image, j.Architecture, strings.Join(j.Vars, " "))
		}
		return tw.Flush()
	}
	return usageError{fmt.Errorf("--format must be text, json or gitlab, not %q", format)}
}

// applyJob turns --job NAME into the job's variable values, refusing a
// --var that sets one of its axes: the job would no longer be itself.
func (a *app) applyJob(opts *recipeOptions, recipePath, name string) error {
	plan, err := a.loadForBuild(opts, recipePath)
	if err != nil {
		return err
	}
	var names []string
	for _, job := range plan.Jobs() {
		names = append(names, job.Name)
		if job.Name != name {
			continue
		}
		for _, v := range opts.vars {
			axis, _, _ := strings.Cut(v, "=")
			if _, set := job.Values[axis]; set {
				return usageError{fmt.Errorf("--var %s sets an axis of job %s; leave it to the job", axis, name)}
			}
		}
		opts.vars = append(opts.vars, job.Vars...)
		return nil
	}
	return usageError{fmt.Errorf("%s has no job %q; its jobs: %s", recipePath, name, strings.Join(names, ", "))}
}

// writeGitLabPipeline prints a child pipeline: one job per matrix entry,
// each extending .builder-build from ci/gitlab/build-job.yml, which also
// holds the publish job that collects their output directories.
func writeGitLabPipeline(w io.Writer, jobs []matrixJob) error {
	doc := map[string]any{"include": []map[string]string{{"local": "ci/gitlab/build-job.yml"}}}
	for _, j := range jobs {
		doc["build "+j.Name] = map[string]any{
			"extends": ".builder-build",
			"variables": map[string]string{
				"BUILDER_RECIPE": j.Recipe,
				"BUILDER_JOB":    j.Name,
				"BUILDER_ARCH":   j.Architecture,
			},
		}
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if _, err := io.WriteString(w, "# Generated by builder matrix --format gitlab.\n"); err != nil {
		return err
	}
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return enc.Close()
}
