package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/builder-images/builder/builder/doctor"
	"github.com/builder-images/builder/builder/doctor/check"
)

type doctorOptions struct {
	recipeOptions
	workDir string
}

func (a *app) newDoctorCommand() *cobra.Command {
	opts := &doctorOptions{}
	cmd := &cobra.Command{
		Use:   "doctor [RECIPE]",
		Short: "Check that this machine can build images",
		Long: `Doctor checks what a build needs from this machine and prints one line
per check, ok, warn or FAIL, with what to install or do for each problem:
root, mount and PID namespaces (really created), the bootstrap and
squashfs tools, qemu binfmt_misc handlers for foreign architectures, free
disk space in the work directory, and the LXD and Incus sockets with each
daemon's version and drivers as it reports them (needed only by import
and test, so never a failure; without a daemon's qemu driver, test boots
VM images under qemu itself).

With a RECIPE, only what that recipe needs can fail: its bootstrap tool,
mksquashfs for a squashfs rootfs, an emulator for its architecture.
Without one, every tool is required and the registered emulators are listed.

Exit status: 0 when no check fails, 1 otherwise, 2 for usage errors.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDoctor(cmd.Context(), opts, args)
		},
	}
	opts.AddFlags(cmd.Flags())
	cmd.Flags().StringVar(&opts.workDir, "work-dir", ".", "directory builds will work in, for the free-space check")
	a.addRecipeCompletion(cmd)
	return cmd
}

func (a *app) runDoctor(ctx context.Context, opts *doctorOptions, args []string) error {
	var results []check.Result
	needs := doctor.Needs{}
	if len(args) == 1 {
		plan, diags, loader := opts.load(a, args[0])
		if err := a.writeDiagnostics(diags, loader.Files()); err != nil {
			return err
		}
		if diags.HasErrors() {
			results = append(results, check.Result{Name: "recipe", Status: check.Fail,
				Detail: args[0] + " has errors (above); checking for any recipe instead",
				Fix:    "fix them; 'builder validate " + args[0] + "' shows them alone"})
		} else {
			needs = doctor.RecipeNeeds(args[0], plan, runtime.GOARCH)
			results = append(results, check.Result{Name: "recipe", Status: check.OK, Detail: needs.Describe()})
		}
	}
	results = append(results, doctor.Machine(environLookup(a.environ)).Run(ctx, needs, opts.workDir)...)
	if failed := writeCheckResults(a.stdout, results); failed {
		return &exitError{code: exitFailure, silent: true}
	}
	return nil
}

// writeCheckResults prints the report and a summary line, and says
// whether any check failed.
func writeCheckResults(w io.Writer, results []check.Result) (failed bool) {
	width := 0
	for _, r := range results {
		width = max(width, len(r.Name))
	}
	var fails, warns int
	for _, r := range results {
		line := fmt.Sprintf("%-4s  %-*s  %s", r.Status, width, r.Name, r.Detail)
		if r.Status != check.OK && r.Fix != "" {
			line += "; fix: " + r.Fix
		}
		fmt.Fprintln(w, line)
		switch r.Status {
		case check.Fail:
			fails++
		case check.Warn:
			warns++
		}
	}
	switch {
	case fails+warns == 0:
		fmt.Fprintln(w, "all checks passed")
	case fails == 0:
		fmt.Fprintf(w, "no check failed, %s\n", plural(warns, "warning", "warnings"))
	default:
		fmt.Fprintf(w, "%s, %s\n", plural(fails, "check failed", "checks failed"), plural(warns, "warning", "warnings"))
	}
	return fails > 0
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// environLookup is os.LookupEnv over an environment list.
func environLookup(environ []string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for i := len(environ) - 1; i >= 0; i-- {
			if k, v, ok := strings.Cut(environ[i], "="); ok && k == name {
				return v, true
			}
		}
		return "", false
	}
}
