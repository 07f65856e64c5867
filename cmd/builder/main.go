// Command builder turns HCL recipes into LXD/Incus images.
//
// Each command lives in its own file: newXCommand builds the cobra
// command, XOptions holds its flags, runX does the work and returns an
// error. Exit codes are decided once, in exitCode.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/builder-images/builder/builder/build"
	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/builder/vmagent"
)

// Exit codes shared by every command.
const (
	exitOK          = 0
	exitFailure     = 1 // the command ran and failed: validate found errors, a build failed
	exitUsage       = 2 // bad flags or arguments; for building commands also an invalid recipe
	exitWouldChange = 3 // fmt --check found files to format
	exitInterrupted = 130
)

// exitError carries a specific exit code. silent errors have already been
// reported (as diagnostics, say) and only set the code.
type exitError struct {
	code   int
	err    error
	silent bool
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError marks mistakes in how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// app is what every command needs from its process, passed in rather than
// read from globals so tests can run commands in-process.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        []string
	// mask masks sensitive values in everything the command prints.
	mask *events.Masker
}

func main() {
	// The sandbox a command in the image runs in is set up by this
	// binary before anything else: no flags, no cobra, nothing that
	// could leak into the command it becomes.
	if code, ok := build.HelperMain(os.Args[1:]); ok {
		os.Exit(code)
	}
	// Copied into a VM under the agent's name, builder is the agent
	// (builder test boots VM images under qemu so).
	if vmagent.IsAgent(os.Args[0]) {
		os.Exit(vmagent.Main())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, environ: os.Environ()}
	code := run(ctx, a, os.Args[1:])
	stop()
	os.Exit(code)
}

// run runs the command line args (without the program name) and returns
// the exit status. Errors not already reported are printed to a.stderr.
func run(ctx context.Context, a *app, args []string) int {
	flush := a.maskOutput()
	defer flush()
	root := a.newRootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		var ee *exitError
		if !errors.As(err, &ee) || !ee.silent {
			fmt.Fprintf(a.stderr, "builder: %s\n", err)
		}
	}
	return exitCode(ctx, err)
}

func exitCode(ctx context.Context, err error) int {
	var ee *exitError
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue), strings.HasPrefix(err.Error(), "unknown command "):
		// cobra reports unknown subcommands before any hook of ours runs.
		return exitUsage
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		return exitInterrupted
	default:
		return exitFailure
	}
}

func (a *app) newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "builder",
		Short: "Build LXD/Incus images from HCL recipes",
		Long: `builder turns an HCL recipe into an LXD or Incus image: it bootstraps a
distribution, configures it in an isolated chroot, packs a split or unified
image and delivers it.

Start with 'builder validate recipes/debian.hcl' and 'builder inspect'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Before any command runs, once its flags are parsed.
	root.PersistentPreRun = a.jsonOutput
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	// Flag mistakes are usage errors: exit 2, as for unknown commands.
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w\nrun '%s --help' for usage", err, cmd.CommandPath())}
	})
	root.AddCommand(
		a.newImportCommand(),
		a.newTestCommand(),
		a.newCacheCommand(),
		a.newMatrixCommand(),
		a.newValidateCommand(),
		a.newInspectCommand(),
		a.newFmtCommand(),
		a.newVersionCommand(),
		a.newDoctorCommand(),
		a.newRootfsCommand(),
		a.newPackCommand(),
		a.newBuildCommand(),
		a.newReproCommand(),
		a.newSBOMCommand(),
		a.newDiffCommand(),
		a.newLockCommand(),
		a.newStageCommand(),
		a.newPublishCommand(),
		a.newTreeCommand(),
		a.newServeCommand(),
	)
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	return root
}

// wrapArgs makes argument-count errors usage errors too.
func wrapArgs(c *cobra.Command) {
	if c.Args == nil {
		return
	}
	check := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{fmt.Errorf("%w\nrun '%s --help' for usage", err, cmd.CommandPath())}
		}
		return nil
	}
}
