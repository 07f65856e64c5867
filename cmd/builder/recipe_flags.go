package main

import (
	"fmt"
	"os"
	"runtime"
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
	plan, diags := l.Load(path, recipe.Options{
		Vars:     o.vars,
		VarFiles: o.varFiles,
		Environ:  a.environ,
		HostArch: runtime.GOARCH,
	})
	if plan != nil {
		a.mask.Add(plan.Secrets()...)
	}
	return plan, diags, l
}

// writeDiagnostics renders diagnostics as hcl does, with snippets, in
// colour on a terminal unless NO_COLOR is set.
func (a *app) writeDiagnostics(diags hcl.Diagnostics, files map[string]*hcl.File) error {
	color, width := false, uint(0)
	if _, ok := terminal(a.stderr); ok {
		color = os.Getenv("NO_COLOR") == ""
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
