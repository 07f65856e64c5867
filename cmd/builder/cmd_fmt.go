package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"

	"github.com/builder-images/builder/builder/recipe"
)

type fmtOptions struct {
	check     bool
	diff      bool
	write     bool
	recursive bool
}

func (a *app) newFmtCommand() *cobra.Command {
	opts := &fmtOptions{}
	cmd := &cobra.Command{
		Use:   "fmt [PATH ...]",
		Short: "Rewrite recipes in canonical HCL layout",
		Long: `Fmt rewrites recipes and var files (*.hcl) in the canonical layout, as
terraform fmt and packer fmt do. PATH is a file or a directory (default:
the current directory); "-" formats standard input to standard output.
Changed file names are printed.

Exit status: 0 when nothing needed formatting or all was written, 3 with
--check when a file would change, 1 when a file does not parse.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runFmt(opts, args)
		},
	}
	cmd.Flags().BoolVar(&opts.check, "check", false, "change nothing; exit 3 if any file is not formatted")
	cmd.Flags().BoolVar(&opts.diff, "diff", false, "print the changes as a unified diff")
	cmd.Flags().BoolVar(&opts.write, "write", true, "write the result back to the file (--write=false only lists)")
	cmd.Flags().BoolVar(&opts.recursive, "recursive", false, "also format files in subdirectories")
	cmd.ValidArgsFunction = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"hcl"}, cobra.ShellCompDirectiveFilterFileExt
	}
	return cmd
}

func (a *app) runFmt(opts *fmtOptions, args []string) error {
	if len(args) == 0 {
		args = []string{"."}
	}
	if len(args) == 1 && args[0] == "-" {
		return a.fmtStdin(opts)
	}
	var files []string
	for _, arg := range args {
		found, err := hclFiles(arg, opts.recursive)
		if err != nil {
			return err
		}
		files = append(files, found...)
	}
	changed, failed := false, false
	for _, f := range files {
		c, err := a.fmtFile(opts, f)
		var syntax hclDiagsError
		switch {
		case errors.As(err, &syntax):
			failed = true
			if err := a.writeDiagnostics(syntax.diags, syntax.files); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		changed = changed || c
	}
	switch {
	case failed:
		return &exitError{code: exitFailure, silent: true}
	case changed && opts.check:
		return &exitError{code: exitWouldChange, silent: true}
	}
	return nil
}

// hclDiagsError carries syntax errors to the caller for rendering.
type hclDiagsError struct {
	diags hcl.Diagnostics
	files map[string]*hcl.File
}

func (e hclDiagsError) Error() string { return e.diags.Error() }

// hclFiles expands a PATH argument: a file is taken as it is, a directory
// gives its *.hcl files (and its subdirectories' with recursive).
func hclFiles(path string, recursive bool) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("fmt: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != path && (!recursive || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), ".hcl") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fmt: listing %s: %w", path, err)
	}
	return files, nil
}

func (a *app) fmtFile(opts *fmtOptions, path string) (bool, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("fmt: %w", err)
	}
	out, diags := recipe.Format(src, path)
	if diags.HasErrors() {
		return false, hclDiagsError{diags: diags, files: map[string]*hcl.File{path: {Bytes: src}}}
	}
	if bytes.Equal(src, out) {
		return false, nil
	}
	fmt.Fprintln(a.stdout, path)
	if opts.diff {
		if err := writeDiff(a.stdout, path, src, out); err != nil {
			return true, err
		}
	}
	if opts.write && !opts.check {
		if err := replaceFile(path, out); err != nil {
			return true, err
		}
	}
	return true, nil
}

func (a *app) fmtStdin(opts *fmtOptions) error {
	src, err := io.ReadAll(a.stdin)
	if err != nil {
		return fmt.Errorf("fmt: reading standard input: %w", err)
	}
	out, diags := recipe.Format(src, "<stdin>")
	if diags.HasErrors() {
		if err := a.writeDiagnostics(diags, map[string]*hcl.File{"<stdin>": {Bytes: src}}); err != nil {
			return err
		}
		return &exitError{code: exitFailure, silent: true}
	}
	changed := !bytes.Equal(src, out)
	switch {
	case opts.diff:
		if changed {
			if err := writeDiff(a.stdout, "<stdin>", src, out); err != nil {
				return err
			}
		}
	case !opts.check:
		if _, err := a.stdout.Write(out); err != nil {
			return fmt.Errorf("fmt: writing standard output: %w", err)
		}
	}
	if changed && opts.check {
		return &exitError{code: exitWouldChange, silent: true}
	}
	return nil
}

func writeDiff(w io.Writer, name string, before, after []byte) error {
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        difflib.SplitLines(string(before)),
		B:        difflib.SplitLines(string(after)),
		FromFile: "old/" + filepath.ToSlash(name),
		ToFile:   "new/" + filepath.ToSlash(name),
		Context:  3,
	})
	if err != nil {
		return fmt.Errorf("fmt: diffing %s: %w", name, err)
	}
	_, err = io.WriteString(w, text)
	return err
}

// replaceFile writes data beside path and renames it over path, so an
// interrupted fmt never leaves a half-written recipe. The mode is kept.
// When path is a symbolic link, the file it points to is replaced and the
// link is left as it is.
func replaceFile(path string, data []byte) (err error) {
	path, err = filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("fmt: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("fmt: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".fmt-*")
	if err != nil {
		return fmt.Errorf("fmt: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("fmt: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		tmp.Close()
		return fmt.Errorf("fmt: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("fmt: syncing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("fmt: closing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("fmt: replacing %s: %w", path, err)
	}
	return nil
}
