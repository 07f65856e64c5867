// Package doctor checks that this machine can build images: root, mount
// and PID namespaces, the host tools (HostTools, hosttools.go), qemu's
// binfmt_misc handlers, what the recipe's bootstrap backend checks itself
// (bootstrap.HostChecker), free disk space and the LXD or Incus socket.
// Run gives one check.Result per check, for any recipe or for one
// (RecipeNeeds); 'builder doctor' prints them.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/bootstrap"
	"github.com/builder-images/builder/builder/doctor/check"
	"github.com/builder-images/builder/builder/emulation"
	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/isolation"
	"github.com/builder-images/builder/builder/lxd"
	"github.com/builder-images/builder/builder/recipe"
)

// Needs is what one recipe needs; its zero value stands for any recipe:
// every tool a native build may run required, no particular
// architecture.
type Needs struct {
	recipe string
	output string
	// host is what the recipe asks of this machine (see HostTools); nil
	// for any recipe.
	host *HostNeeds
	arch *image.Architecture
}

// RecipeNeeds is what plan, loaded from path, needs of a machine whose Go
// architecture is hostGOARCH.
func RecipeNeeds(path string, plan *recipe.Plan, hostGOARCH string) Needs {
	host := NeedsOf(plan, hostGOARCH)
	n := Needs{recipe: path, host: &host, arch: &plan.Image.Architecture, output: plan.Output.Type}
	if plan.Output.Type == "split" {
		n.output += " " + plan.Output.RootfsFormat
	}
	return n
}

// Describe says what the recipe is and every host tool it will run, so
// that a report that passes names them all.
func (n Needs) Describe() string {
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

// Env is everything the checks read from the machine; tests replace
// parts of it with fakes.
type Env struct {
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
	// server asks the daemon behind a socket that accepts connections
	// who it is (GET /1.0); nil asks nothing.
	server func(context.Context, lxd.Socket) (daemonInfo, error)
}

// daemonInfo is what GET /1.0 says of a daemon: who it is and its
// instance drivers ("lxc | qemu" when it can run VMs).
type daemonInfo struct {
	lxd.Server
	Drivers string
}

// Machine is this machine, whose environment lookupEnv reads (for the
// LXD and Incus sockets' variables).
func Machine(lookupEnv func(string) (string, bool)) Env {
	return Env{
		euid:            os.Geteuid(),
		hostGOARCH:      runtime.GOARCH,
		lookPath:        exec.LookPath,
		stat:            os.Stat,
		probeNamespaces: isolation.ProbeNamespaces,
		statfs:          unix.Statfs,
		sockets:         lxd.Finder{LookupEnv: lookupEnv},
		server:          askServer,
	}
}

// serverTimeout bounds GET /1.0: a daemon that takes longer is as good
// as absent for a check that must come back at once.
const serverTimeout = 5 * time.Second

// askServer asks the daemon behind s for its name, version and drivers.
func askServer(ctx context.Context, s lxd.Socket) (daemonInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, serverTimeout)
	defer cancel()
	c := lxd.NewUnixClient(s)
	srv, err := c.Connect(ctx)
	if err != nil {
		return daemonInfo{Server: srv}, err
	}
	drivers, err := c.Drivers(ctx)
	return daemonInfo{Server: srv, Drivers: drivers}, err
}

// runsVMs reports whether a daemon's drivers include qemu.
func runsVMs(drivers string) bool { return strings.Contains(drivers, "qemu") }

// Run runs the checks for n, in report order; workDir is where builds
// will work, for the free-space check.
func (e Env) Run(ctx context.Context, n Needs, workDir string) []check.Result {
	results := []check.Result{e.checkRoot(), e.checkNamespaces(ctx)}
	for _, t := range HostTools() {
		results = append(results, e.checkTool(n, t))
	}
	results = append(results, e.checkBinfmt(n))
	results = append(results, e.backendChecks(n)...)
	return append(results, e.checkDisk(workDir), e.checkDaemon(ctx))
}

// backendChecks are the checks the recipe's bootstrap backend declares.
func (e Env) backendChecks(n Needs) []check.Result {
	if n.host == nil || n.host.Bootstrap == nil {
		return nil
	}
	b, err := bootstrap.Lookup(n.host.Backend)
	if err != nil {
		return nil
	}
	c, ok := b.(bootstrap.HostChecker)
	if !ok {
		return nil
	}
	host := bootstrap.HostEnv{Distribution: n.host.Distribution, ScriptsDir: e.scriptsDir, Stat: e.stat}
	return c.HostChecks(host, n.host.Bootstrap)
}

func (e Env) checkRoot() check.Result {
	if e.euid == 0 {
		return check.Result{Name: "root", Status: check.OK, Detail: "running as root"}
	}
	return check.Result{Name: "root", Status: check.Fail,
		Detail: fmt.Sprintf("running as uid %d; builder rootfs and build need root (validate, inspect and fmt do not)", e.euid),
		Fix:    "run builds as root, e.g. with sudo"}
}

func (e Env) checkNamespaces(ctx context.Context) check.Result {
	method, err := e.probeNamespaces(ctx)
	if err == nil {
		return check.Result{Name: "namespaces", Status: check.OK, Detail: "mount and PID namespaces work (" + method + ")"}
	}
	fix := "in a container, allow nested namespaces (LXD: security.nesting=true; Docker: --privileged)"
	if e.euid != 0 {
		fix = "run as root"
	}
	return check.Result{Name: "namespaces", Status: check.Fail, Detail: fmt.Sprintf("%v (tried %s)", err, method), Fix: fix}
}

// Free space thresholds: a minbase Debian rootfs with its packed image
// and the package cache fits in 4 GiB; under 1 GiB nothing will.
const (
	diskWarnBytes = 4 << 30
	diskFailBytes = 1 << 30
)

func (e Env) checkDisk(workDir string) check.Result {
	r := check.Result{Name: "disk"}
	dir, err := filepath.Abs(workDir)
	if err != nil {
		r.Status, r.Detail, r.Fix = check.Fail, err.Error(), "pass an existing --work-dir"
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
		r.Status, r.Detail, r.Fix = check.Fail, fmt.Sprintf("measuring free space in %s: %v", dir, err), "pass a --work-dir builder can read"
		return r
	}
	free := st.Bavail * uint64(st.Bsize)
	r.Detail = fmt.Sprintf("%s free in %s", formatBytes(free), dir)
	switch {
	case free < diskFailBytes:
		r.Status, r.Fix = check.Fail, "free space there, or pass --work-dir on a filesystem with at least 4 GiB free"
	case free < diskWarnBytes:
		r.Status, r.Fix = check.Warn, "a Debian image needs about 4 GiB: free space there, or pass --work-dir on a larger filesystem"
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

func (e Env) checkDaemon(ctx context.Context) check.Result {
	r := check.Result{Name: "daemon"}
	sockets, err := e.sockets.FindAll(ctx)
	var found, problems []string
	vms := false
	for _, s := range sockets {
		switch {
		case s.Connectable:
			desc, info := e.describeDaemon(ctx, s)
			found = append(found, desc)
			vms = vms || runsVMs(info.Drivers)
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
		verb := " accepts connections"
		if len(found) > 1 {
			verb = " accept connections"
		}
		r.Detail = strings.Join(found, ", ") + verb
		if e.server != nil && !vms {
			// builder test needs to know, and so does whoever reads
			// why a VM configuration ran under qemu.
			r.Detail += "; none runs VMs (no qemu driver): builder test boots VM images under qemu"
		}
		return r
	}
	r.Status = check.Warn
	r.Detail = "no LXD or Incus daemon: " + strings.Join(problems, "; ") + "; only 'builder import' needs one"
	r.Fix = "apt-get install lxd and run 'lxd init' (or incus-base and incus-client from bookworm-backports, and 'incus admin init'), start it if installed, or set LXD_SOCKET/INCUS_SOCKET"
	return r
}

// describeDaemon names the daemon at s with its version and drivers, as
// the daemon itself says (an $INCUS_SOCKET may point at LXD), and why not
// when it does not answer.
func (e Env) describeDaemon(ctx context.Context, s lxd.Socket) (string, daemonInfo) {
	name := string(s.Daemon)
	var info daemonInfo
	var notes []string
	if s.Project != "" {
		notes = append(notes, "project "+s.Project)
	}
	if e.server != nil {
		var err error
		info, err = e.server(ctx, s)
		if info.Version != "" {
			name = fmt.Sprintf("%s %s", info.Daemon, info.Version)
		}
		switch {
		case info.Drivers != "":
			notes = append(notes, "drivers "+info.Drivers)
		case err != nil && info.Version == "":
			notes = append(notes, fmt.Sprintf("version unknown: %v", err))
		}
		if err != nil && info.Version != "" {
			notes = append(notes, err.Error())
		}
	}
	desc := fmt.Sprintf("%s at %s", name, s.Path)
	if len(notes) > 0 {
		desc += " (" + strings.Join(notes, "; ") + ")"
	}
	return desc, info
}
