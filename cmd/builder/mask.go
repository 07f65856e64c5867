package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/builder-images/builder/builder/events"
)

// maskOutput sends everything the command prints, on stdout and stderr,
// through one masker, so that no path (an error, a summary, a log line
// of pack or import, a child's stderr) can print a sensitive value.
// The masker starts empty and learns the values when the recipe is
// loaded (recipeOptions.load). The returned function writes what the
// writers held back, at the end of the command.
func (a *app) maskOutput() func() {
	a.mask = events.NewMasker()
	out, errOut := a.mask.Writer(a.stdout), a.mask.Writer(a.stderr)
	a.stdout, a.stderr = out, errOut
	return func() {
		// Nothing is left to report a failed write to.
		_ = out.Flush()
		_ = errOut.Flush()
	}
}

// jsonOutput keeps stdout JSON when the command prints JSON there
// (--json; the isolated stage does the same for its events): values are
// then masked inside string literals only (events.Writer.SetJSON).
func (a *app) jsonOutput(cmd *cobra.Command, _ []string) {
	w, ok := a.stdout.(*events.Writer)
	if !ok {
		return
	}
	if on, err := cmd.Flags().GetBool("json"); err == nil && on {
		w.SetJSON()
	}
}

// terminal returns the file behind w when it is a terminal, looking
// through the masking writers.
func terminal(w io.Writer) (*os.File, bool) {
	for {
		switch v := w.(type) {
		case *os.File:
			return v, isTerminal(v)
		case interface{ Unwrap() io.Writer }:
			w = v.Unwrap()
		default:
			return nil, false
		}
	}
}
