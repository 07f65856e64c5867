package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/builder-images/builder/builder/recipe"

	"golang.org/x/sys/unix"
)

// recipeOptions are the flags of every command that reads a recipe.
type recipeOptions struct {
	vars     []string
	varFiles []string
}

func (o *recipeOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.vars, "var", nil, "set a variable: NAME=VALUE (repeatable; wins over var files and the environment)")
	fs.StringArrayVar(&o.varFiles, "var-file", nil, "read variable values from an HCL or JSON file (repeatable; later files win)")
}

// load evaluates the recipe; the loader is returned for rendering
// diagnostics with snippets.
func (o *recipeOptions) load(a *app, path string) (*recipe.Plan, hcl.Diagnostics, *recipe.Loader) {
	l := recipe.NewLoader()
	plan, diags := o.evaluate(a, l, path)
	return plan, diags, l
}

// loadEach evaluates the recipe once for each instance type its outputs
// build (recipe.Loader.LoadEach), for the commands that show or check
// all of them.
func (o *recipeOptions) loadEach(a *app, path string) ([]*recipe.Plan, hcl.Diagnostics, *recipe.Loader) {
	l := recipe.NewLoader()
	plans, diags := l.LoadEach(path, o.options(a))
	for _, plan := range plans {
		a.mask.Add(plan.Secrets()...)
	}
	return plans, diags, l
}

// evaluate evaluates the recipe with l, which parses each file once
// however often it evaluates, for the first output's instance type.
func (o *recipeOptions) evaluate(a *app, l *recipe.Loader, path string) (*recipe.Plan, hcl.Diagnostics) {
	return o.evaluateAs(a, l, path, "")
}

// evaluateAs evaluates the recipe with build.type instanceType ("": the
// first output's).
func (o *recipeOptions) evaluateAs(a *app, l *recipe.Loader, path, instanceType string) (*recipe.Plan, hcl.Diagnostics) {
	opts := o.options(a)
	opts.InstanceType = instanceType
	plan, diags := l.Load(path, opts)
	if plan != nil {
		a.mask.Add(plan.Secrets()...)
	}
	return plan, diags
}

func (o *recipeOptions) options(a *app) recipe.Options {
	return recipe.Options{
		Vars:     o.vars,
		VarFiles: o.varFiles,
		Environ:  a.environ,
		HostArch: runtime.GOARCH,
	}
}

// planLoader loads a recipe for a building command, as often as the
// instance types it builds need, from files parsed once: each
// evaluation's diagnostics are printed, each diagnostic once, and an
// invalid recipe is a usage error (exit 2).
type planLoader struct {
	a       *app
	l       *recipe.Loader
	opts    *recipeOptions
	path    string
	printed map[string]bool
}

// newPlanLoader makes the loader; with job set, the recipe is evaluated,
// its job looked up, and every later evaluation has the job's values.
func (a *app) newPlanLoader(opts *recipeOptions, path, job string) (*planLoader, error) {
	pl := &planLoader{a: a, l: recipe.NewLoader(), opts: opts, path: path, printed: map[string]bool{}}
	if job == "" {
		return pl, nil
	}
	plan, err := pl.load("")
	if err != nil {
		return nil, err
	}
	vars, err := jobVars(plan, opts.vars, path, job)
	if err != nil {
		return nil, err
	}
	pl.opts = &recipeOptions{vars: append(slices.Clone(opts.vars), vars...), varFiles: opts.varFiles}
	return pl, nil
}

// load evaluates the recipe with build.type instanceType ("": the first
// output's).
func (pl *planLoader) load(instanceType string) (*recipe.Plan, error) {
	plan, diags := pl.opts.evaluateAs(pl.a, pl.l, pl.path, instanceType)
	var fresh hcl.Diagnostics
	for _, d := range diags {
		where := ""
		if d.Subject != nil {
			where = d.Subject.String()
		}
		key := fmt.Sprintf("%d\x00%s\x00%s\x00%s", d.Severity, d.Summary, d.Detail, where)
		if !pl.printed[key] {
			pl.printed[key] = true
			fresh = append(fresh, d)
		}
	}
	if err := pl.a.writeDiagnostics(fresh, pl.l.Files()); err != nil {
		return nil, err
	}
	if diags.HasErrors() {
		return nil, &exitError{code: exitUsage, silent: true}
	}
	return plan, nil
}

// jobVars are the --var values of job NAME of the plan loaded from
// recipePath, refusing a --var that sets one of its axes: the job would
// no longer be itself.
func jobVars(plan *recipe.Plan, vars []string, recipePath, name string) ([]string, error) {
	var names []string
	for _, job := range plan.Jobs() {
		names = append(names, job.Name)
		if job.Name != name {
			continue
		}
		for _, v := range vars {
			axis, _, _ := strings.Cut(v, "=")
			if _, set := job.Values[axis]; set {
				return nil, usageError{fmt.Errorf("--var %s sets an axis of job %s; leave it to the job", axis, name)}
			}
		}
		return job.Vars, nil
	}
	return nil, usageError{fmt.Errorf("%s has no job %q; its jobs: %s", recipePath, name, strings.Join(names, ", "))}
}

// writeDiagnostics renders diagnostics as hcl does, with snippets, in
// colour on a terminal unless NO_COLOR is set.
func (a *app) writeDiagnostics(diags hcl.Diagnostics, files map[string]*hcl.File) error {
	color, width := false, uint(0)
	if _, ok := terminal(a.stderr); ok {
		noColor, _ := environLookup(a.environ)("NO_COLOR")
		color = noColor == ""
		width = 100
	}
	w := hcl.NewDiagnosticTextWriter(a.stderr, files, width, color)
	if err := w.WriteDiagnostics(diags); err != nil {
		return fmt.Errorf("writing diagnostics: %w", err)
	}
	return nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// completeRecipe offers .hcl files for the recipe argument.
func completeRecipe(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return []string{"hcl"}, cobra.ShellCompDirectiveFilterFileExt
}

// completeVar offers NAME= for each variable the recipe declares.
func (a *app) completeVar(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 || strings.Contains(toComplete, "=") {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	plan, _, _ := (&recipeOptions{}).load(a, args[0])
	if plan == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, v := range plan.Variables {
		out = append(out, v.Name+"=\t"+v.Description)
	}
	return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}

func (a *app) addRecipeCompletion(cmd *cobra.Command) {
	cmd.ValidArgsFunction = completeRecipe
	_ = cmd.RegisterFlagCompletionFunc("var", a.completeVar)
	_ = cmd.RegisterFlagCompletionFunc("var-file", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"hcl", "json"}, cobra.ShellCompDirectiveFilterFileExt
	})
}

// terminalWidth is the terminal's width in columns, 0 when unknown.
func terminalWidth(f *os.File) int {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
