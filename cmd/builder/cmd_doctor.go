package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/emulation"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/isolation"
	"github.com/builder-images/builder/builder/lxd"
	"github.com/builder-images/builder/builder/recipe"
	"github.com/builder-images/builder/builder/stage"
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
disk space in the work directory, and the LXD or Incus socket (needed only
by import, so never a failure).

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
	var results []checkResult
	needs := doctorNeeds{}
	if len(args) == 1 {
		plan, diags, loader := opts.load(a, args[0])
		if err := a.writeDiagnostics(diags, loader.Files()); err != nil {
			return err
		}
		if diags.HasErrors() {
			results = append(results, checkResult{Name: "recipe", Status: statusFail,
				Detail: args[0] + " has errors (above); checking for any recipe instead",
				Fix:    "fix them; 'builder validate " + args[0] + "' shows them alone"})
		} else {
			needs = recipeNeeds(args[0], plan, runtime.GOARCH)
			results = append(results, checkResult{Name: "recipe", Status: statusOK, Detail: needs.describe()})
		}
	}
	env := a.machineEnv()
	for _, check := range env.checks(needs, opts.workDir) {
		results = append(results, check(ctx))
	}
	if failed := writeCheckResults(a.stdout, results); failed {
		return &exitError{code: exitFailure, silent: true}
	}
	return nil
}

// checkStatus orders results: ok, then warn, then FAIL.
type checkStatus int

const (
	statusOK checkStatus = iota
	statusWarn
	statusFail
)

func (s checkStatus) String() string { return [...]string{"ok", "warn", "FAIL"}[s] }

// checkResult is one line of doctor's report.
type checkResult struct {
	Name   string
	Status checkStatus
	Detail string
	// Fix says what to install or do; set for every result that is not ok.
	Fix string
}

type doctorCheck func(context.Context) checkResult

// writeCheckResults prints the report and a summary line, and says
// whether any check failed.
func writeCheckResults(w io.Writer, results []checkResult) (failed bool) {
	width := 0
	for _, r := range results {
		width = max(width, len(r.Name))
	}
	var fails, warns int
	for _, r := range results {
		line := fmt.Sprintf("%-4s  %-*s  %s", r.Status, width, r.Name, r.Detail)
		if r.Status != statusOK && r.Fix != "" {
			line += "; fix: " + r.Fix
		}
		fmt.Fprintln(w, line)
		switch r.Status {
		case statusFail:
			fails++
		case statusWarn:
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

// doctorNeeds is what one recipe needs; its zero value stands for any
// recipe: every tool a native build may run required, no particular
// architecture.
type doctorNeeds struct {
	recipe string
	output string
	// host is what the recipe asks of this machine (see stage.HostTools);
	// nil for any recipe.
	host *stage.HostNeeds
	arch *image.Architecture
}

func recipeNeeds(path string, plan *recipe.Plan, hostGOARCH string) doctorNeeds {
	host := stage.NeedsOf(plan, hostGOARCH)
	n := doctorNeeds{recipe: path, host: &host, arch: &plan.Image.Architecture, output: plan.Output.Type}
	if plan.Output.Type == "split" {
		n.output += " " + plan.Output.RootfsFormat
	}
	return n
}

// describe says what the recipe is and every host tool it will run, so
// that a report that passes names them all.
func (n doctorNeeds) describe() string {
	s := fmt.Sprintf("%s: %s, %s bootstrap, %s output", n.recipe, n.arch.Distribution, n.host.Backend, n.output)
	needs := n.host.Tools()
	if n.host.Foreign {
		if h := emulation.HandlerName(*n.arch); h != "" {
			needs = append(needs, "the binfmt handler "+h)
		}
	}
	if len(needs) > 0 {
		s += "; needs " + strings.Join(needs, ", ")
	}
	return s
}

// doctorEnv is everything the checks read from the machine; tests
// replace parts of it with fakes.
type doctorEnv struct {
	euid       int
	hostGOARCH string
	lookPath   func(string) (string, error)
	stat       func(string) (os.FileInfo, error)
	// scriptsDir is debootstrap's scripts directory; empty means
	// bootstrap.DebootstrapScripts.
	scriptsDir      string
	probeNamespaces func(context.Context) (string, error)
	emulation       emulation.Emulation
	statfs          func(string, *unix.Statfs_t) error
	sockets         lxd.Finder
}

func (a *app) machineEnv() doctorEnv {
	return doctorEnv{
		euid:            os.Geteuid(),
		hostGOARCH:      runtime.GOARCH,
		lookPath:        exec.LookPath,
		stat:            os.Stat,
		probeNamespaces: isolation.ProbeNamespaces,
		statfs:          unix.Statfs,
		sockets:         lxd.Finder{LookupEnv: environLookup(a.environ)},
	}
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

// checks lists the checks in report order.
func (e doctorEnv) checks(n doctorNeeds, workDir string) []doctorCheck {
	checks := []doctorCheck{e.checkRoot, e.checkNamespaces}
	for _, t := range stage.HostTools() {
		checks = append(checks, func(context.Context) checkResult { return e.checkTool(n, t) })
	}
	checks = append(checks, func(context.Context) checkResult { return e.checkBinfmt(n) })
	if n.host != nil && (n.host.Backend == "debootstrap" || n.host.Backend == "mmdebstrap") {
		if n.host.Backend == "debootstrap" {
			checks = append(checks, func(context.Context) checkResult { return e.checkScript(n) })
		}
		checks = append(checks, func(context.Context) checkResult { return e.checkKeyring(n) })
	}
	return append(checks,
		func(context.Context) checkResult { return e.checkDisk(workDir) },
		e.checkDaemon,
	)
}

func (e doctorEnv) checkRoot(context.Context) checkResult {
	if e.euid == 0 {
		return checkResult{Name: "root", Status: statusOK, Detail: "running as root"}
	}
	return checkResult{Name: "root", Status: statusFail,
		Detail: fmt.Sprintf("running as uid %d; builder rootfs and build need root (validate, inspect and fmt do not)", e.euid),
		Fix:    "run builds as root, e.g. with sudo"}
}

func (e doctorEnv) checkNamespaces(ctx context.Context) checkResult {
	method, err := e.probeNamespaces(ctx)
	if err == nil {
		return checkResult{Name: "namespaces", Status: statusOK, Detail: "mount and PID namespaces work (" + method + ")"}
	}
	fix := "in a container, allow nested namespaces (LXD: security.nesting=true; Docker: --privileged)"
	if e.euid != 0 {
		fix = "run as root"
	}
	return checkResult{Name: "namespaces", Status: statusFail, Detail: fmt.Sprintf("%v (tried %s)", err, method), Fix: fix}
}

func (e doctorEnv) checkBinfmt(n doctorNeeds) checkResult {
	r := checkResult{Name: "binfmt"}
	if n.arch != nil {
		sup, err := e.emulation.Check(*n.arch, e.hostGOARCH)
		var missing *emulation.MissingEmulatorError
		switch {
		case errors.As(err, &missing):
			r.Status, r.Detail, r.Fix = statusFail, missing.Reason(), missing.Fix()
		case err != nil:
			r.Status, r.Detail, r.Fix = statusFail, err.Error(), "apt-get install qemu-user-static binfmt-support"
		case sup.Native:
			r.Detail = n.arch.Distribution + " runs natively"
		case !sup.Handler.FixBinary():
			r.Status = statusWarn
			r.Detail = fmt.Sprintf("%s runs under %s, registered without the F flag: its interpreter %s would have to exist inside the rootfs", n.arch.Distribution, sup.Handler.Name, sup.Handler.Interpreter)
			r.Fix = "apt-get install qemu-user-static binfmt-support, whose handlers have it"
		default:
			r.Detail = fmt.Sprintf("%s runs under %s (%s)", n.arch.Distribution, sup.Handler.Name, sup.Handler.Interpreter)
		}
		return r
	}
	// Any recipe: say which architectures can be built, and why not others.
	var native, emulated, broken, fixes []string
	for _, name := range image.ArchitectureNames() {
		arch, _ := image.LookupArchitecture(name)
		sup, err := e.emulation.Check(arch, e.hostGOARCH)
		var missing *emulation.MissingEmulatorError
		switch {
		case err == nil && sup.Native:
			native = append(native, name)
		case err == nil:
			emulated = append(emulated, fmt.Sprintf("%s (%s)", name, sup.Handler.Name))
		case errors.As(err, &missing) && (missing.Problem == emulation.NotMounted || missing.Problem == emulation.Disabled || missing.Problem == emulation.NotRegistered):
			// Reported once below, or simply not available.
		case errors.As(err, &missing):
			broken = append(broken, missing.Reason())
			if !slices.Contains(fixes, missing.Fix()) {
				fixes = append(fixes, missing.Fix())
			}
		default:
			broken = append(broken, err.Error())
		}
	}
	nativeOnly := "only " + strings.Join(native, " and ") + " (native) can be built"
	var off *emulation.MissingEmulatorError
	if err := e.emulation.Enabled(); errors.As(err, &off) {
		r.Status, r.Detail, r.Fix = statusWarn, off.Reason()+": "+nativeOnly, off.Fix()
		return r
	} else if err != nil {
		r.Status, r.Detail, r.Fix = statusWarn, err.Error()+": "+nativeOnly, "apt-get install qemu-user-static binfmt-support"
		return r
	}
	r.Detail = "native: " + strings.Join(native, ", ")
	if len(emulated) > 0 {
		r.Detail += "; under qemu: " + strings.Join(emulated, ", ")
	}
	switch {
	case len(broken) > 0:
		r.Status = statusWarn
		r.Detail += "; " + strings.Join(broken, "; ")
		r.Fix = strings.Join(fixes, "; ")
	case len(emulated) == 0:
		r.Status = statusWarn
		r.Detail += "; no qemu handler is registered, so no foreign architecture can be built"
		r.Fix = "apt-get install qemu-user-static binfmt-support"
	}
	return r
}

// Free space thresholds: a minbase Debian rootfs with its packed image
// and the package cache fits in 4 GiB; under 1 GiB nothing will.
const (
	diskWarnBytes = 4 << 30
	diskFailBytes = 1 << 30
)

func (e doctorEnv) checkDisk(workDir string) checkResult {
	r := checkResult{Name: "disk"}
	dir, err := filepath.Abs(workDir)
	if err != nil {
		r.Status, r.Detail, r.Fix = statusFail, err.Error(), "pass an existing --work-dir"
		return r
	}
	// The work directory may not exist yet: measure where it will be.
	var st unix.Statfs_t
	for {
		err = e.statfs(dir, &st)
		if !errors.Is(err, unix.ENOENT) || dir == filepath.Dir(dir) {
			break
		}
		dir = filepath.Dir(dir)
	}
	if err != nil {
		r.Status, r.Detail, r.Fix = statusFail, fmt.Sprintf("measuring free space in %s: %v", dir, err), "pass a --work-dir builder can read"
		return r
	}
	free := st.Bavail * uint64(st.Bsize)
	r.Detail = fmt.Sprintf("%s free in %s", formatBytes(free), dir)
	switch {
	case free < diskFailBytes:
		r.Status, r.Fix = statusFail, "free space there, or pass --work-dir on a filesystem with at least 4 GiB free"
	case free < diskWarnBytes:
		r.Status, r.Fix = statusWarn, "a Debian image needs about 4 GiB: free space there, or pass --work-dir on a larger filesystem"
	}
	return r
}

func formatBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

func (e doctorEnv) checkDaemon(ctx context.Context) checkResult {
	r := checkResult{Name: "daemon"}
	sockets, err := e.sockets.FindAll(ctx)
	var found, problems []string
	for _, s := range sockets {
		switch {
		case s.Connectable && s.Project != "":
			found = append(found, fmt.Sprintf("%s at %s (project %s)", s.Daemon, s.Path, s.Project))
		case s.Connectable:
			found = append(found, fmt.Sprintf("%s at %s", s.Daemon, s.Path))
		case s.Exists:
			problems = append(problems, fmt.Sprintf("%s exists but refuses connections (%v)", s.Path, s.DialErr))
		default:
			problems = append(problems, s.Path+" does not exist")
		}
	}
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(found) > 0 {
		r.Detail = strings.Join(found, ", ") + " accepts connections"
		return r
	}
	r.Status = statusWarn
	r.Detail = "no LXD or Incus daemon: " + strings.Join(problems, "; ") + "; only 'builder import' needs one"
	r.Fix = "apt-get install lxd and run 'lxd init' (or install incus), start it if installed, or set LXD_SOCKET/INCUS_SOCKET"
	return r
}
