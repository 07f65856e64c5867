package isolation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/isolation/capability"
)

// A command run in the image does not run in the build's namespaces
// but in a sandbox of its own, made by builder's own binary started
// with SandboxArg (see SandboxMain) in new mount and PID namespaces,
// with an environment of its own and its spec on a memfd. It:
//
//   - binds the image over itself and pivots into it, then detaches the
//     old root: no path in its mount namespace leads to the host's tree,
//     chroot or no chroot;
//   - mounts a proc of its new PID namespace, where the command is PID 1
//     and sees only its own processes: /proc/*/root, cwd, fd and environ
//     lead to nothing of builder's;
//   - makes the kernel's knobs in proc read-only and masks the files
//     that show the host's kernel state (Docker's lists);
//   - keeps the image's own device nodes from working (nodev on the
//     image; /dev is builder's tmpfs);
//   - closes every fd but stdin, stdout and stderr, starts a session
//     of its own (no controlling terminal to inject keystrokes into);
//   - lowers the bounding, permitted, effective and inheritable sets to
//     capability.Build plus what the step asked for, clears the ambient
//     set, and executes the command, which becomes the namespace's init:
//     when it exits the kernel kills whatever it left behind.
//
// This is what bubblewrap and runc do, in the order they do it; without
// CAP_SYS_ADMIN nothing of it can be undone from inside.

// SandboxArg, as the only argument, makes builder's binary the sandbox
// helper; main hands the rest of the arguments (none) to SandboxMain.
const SandboxArg = "__sandbox"

// sandboxFailed is the helper's exit status when it could not set the
// sandbox up (podman and docker use 125 likewise).
const sandboxFailed = 125

// sandboxSpec is what the helper is told, as JSON in its argument.
type sandboxSpec struct {
	// Root is the image's directory on the build's side, for a command
	// of the image; Tool, for a build-side program, the view it runs in.
	Root string    `json:"root,omitempty"`
	Tool *ToolView `json:"tool,omitempty"`
	// Argv[0] is a path inside the root; Env is the command's whole
	// environment.
	Argv []string       `json:"argv"`
	Env  []string       `json:"env"`
	Caps capability.Set `json:"caps"`
}

// helperEnv is the helper's own environment. The command's reaches only
// the command's execve: LD_PRELOAD, LD_AUDIT or GODEBUG in a recipe's
// environment must not act on builder's binary while it still holds
// every capability in the build's namespaces.
var helperEnv = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}

// specFD is where the helper reads its spec: a memfd, so that neither
// argv's size limit nor /proc/PID/cmdline applies to a command's
// arguments and environment.
const specFD = 3

// sandboxCommand returns the command that runs spec.Argv as spec says.
func sandboxCommand(ctx context.Context, spec sandboxSpec) (*exec.Cmd, error) {
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	fd, err := unix.MemfdCreate("builder-sandbox-spec", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("passing the sandbox its spec: %w", err)
	}
	memfd := os.NewFile(uintptr(fd), "builder-sandbox-spec")
	if _, err := memfd.Write(specJSON); err != nil {
		memfd.Close()
		return nil, fmt.Errorf("passing the sandbox its spec: %w", err)
	}
	if _, err := memfd.Seek(0, io.SeekStart); err != nil {
		memfd.Close()
		return nil, fmt.Errorf("passing the sandbox its spec: %w", err)
	}
	// /proc/self/exe: the binary running now, even if its file was
	// replaced since (an upgrade during a build).
	cmd := exec.CommandContext(ctx, "/proc/self/exe", SandboxArg)
	cmd.Env = helperEnv
	cmd.Dir = "/"
	cmd.ExtraFiles = []*os.File{memfd} // specFD
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setsid:     true,
		Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID,
	}
	return cmd, nil
}

// SandboxMain is the helper: it sets the sandbox up and executes the
// command, so it returns only to report a failure, after which the
// process must exit with the returned status: 125 when the sandbox could
// not be set up, 127 when the command is missing, 126 when it could not
// be executed (a shell's statuses).
func SandboxMain(args []string) int {
	err := enterSandbox(args)
	var execErr *sandboxExecError
	if errors.As(err, &execErr) {
		fmt.Fprintf(os.Stderr, "builder: %v\n", err)
		if errors.Is(execErr.err, unix.ENOENT) {
			return 127
		}
		return 126
	}
	fmt.Fprintf(os.Stderr, "builder: setting up the sandbox: %v\n", err)
	return sandboxFailed
}

// sandboxExecError is a command the sandbox could not execute.
type sandboxExecError struct {
	path string
	err  error
}

func (e *sandboxExecError) Error() string {
	if errors.Is(e.err, unix.ENOENT) {
		return fmt.Sprintf("executing %s: %v (a script's #! interpreter must be installed in the image)", e.path, e.err)
	}
	return fmt.Sprintf("executing %s: %v", e.path, e.err)
}

func enterSandbox(args []string) error {
	// Capabilities belong to a thread, and execve keeps the calling
	// thread's: everything from here on runs on this one.
	runtime.LockOSThread()
	if len(args) != 0 {
		return errors.New("the sandbox takes no argument; it is started by builder itself")
	}
	var spec sandboxSpec
	specFile := os.NewFile(specFD, "builder-sandbox-spec")
	err := json.NewDecoder(specFile).Decode(&spec)
	specFile.Close()
	if err != nil {
		return fmt.Errorf("reading the sandbox spec: %w", err)
	}
	if len(spec.Argv) == 0 || (spec.Root == "") == (spec.Tool == nil) {
		return errors.New("the sandbox spec needs a command and either a root or a tool view")
	}
	if os.Getpid() != 1 {
		return errors.New("the sandbox must be PID 1 of a new PID namespace; it is started by builder itself")
	}
	if spec.Tool != nil {
		if err := enterToolView(spec.Tool); err != nil {
			return err
		}
	} else if err := enterImage(spec.Root); err != nil {
		return err
	}
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("closing inherited files: %w", err)
	}
	if err := limitCapabilities(spec.Caps); err != nil {
		return err
	}
	err = unix.Exec(spec.Argv[0], spec.Argv, spec.Env)
	return &sandboxExecError{path: spec.Argv[0], err: err}
}

// enterImage makes the image the root of this mount namespace, with
// nothing of the old tree left below or above it, and its own proc.
func enterImage(root string) error {
	// Nothing done here may reach the build's namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	// pivot_root needs a mount point; the recursive bind brings the
	// build's /dev, /tmp, /run, /sys and binds along.
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding the image: %w", err)
	}
	if err := remountNodev(root); err != nil {
		return err
	}
	if err := pivotHere(root); err != nil {
		return err
	}
	if err := mountProc(""); err != nil {
		return err
	}
	// The firmware tables of the (read-only) sysfs are the host's.
	return mask("/sys/firmware")
}

// remountNodev keeps device nodes in the image itself (a step's mknod, a
// tarball's entries) from opening devices; /dev is a mount of its own.
// The mount's other flags are kept.
func remountNodev(mountPoint string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(mountPoint, &st); err != nil {
		return fmt.Errorf("reading the image's mount flags: %w", err)
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_NODEV)
	for _, f := range []struct{ st, ms int64 }{{unix.ST_RDONLY, unix.MS_RDONLY}, {unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NOEXEC, unix.MS_NOEXEC}} {
		if st.Flags&f.st != 0 {
			flags |= uintptr(f.ms)
		}
	}
	if err := unix.Mount("", mountPoint, "", flags, ""); err != nil {
		return fmt.Errorf("making the image's device nodes inert: %w", err)
	}
	return nil
}

// pivotHere makes the mount at dir the root and detaches the old one:
// pivot_root(".", ".") stacks the old root on the new, and unmounting
// it leaves dir alone in the namespace (runc does the same).
func pivotHere(dir string) error {
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("entering %s: %w", dir, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root into %s: %w", dir, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the build's tree: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("entering %s: %w", dir, err)
	}
	return nil
}

// procReadOnly are proc's paths that change the kernel when written;
// procMasked show the host's kernel state (Docker's lists).
var (
	procReadOnly = []string{"bus", "fs", "irq", "sys", "sysrq-trigger"}
	procMasked   = []string{"acpi", "asound", "kcore", "keys", "latency_stats",
		"sched_debug", "scsi", "timer_list", "timer_stats"}
)

// mountProc mounts the new PID namespace's proc on root's /proc, which
// must be a directory (SetupChroot makes it one).
func mountProc(root string) error {
	proc := filepath.Join("/", root, "proc")
	if st, err := os.Lstat(proc); err != nil || !st.IsDir() {
		return fmt.Errorf("%s is not a directory: %v", proc, err)
	}
	if err := unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting proc: %w", err)
	}
	for _, p := range procReadOnly {
		if err := bindReadOnly(filepath.Join(proc, p)); err != nil {
			return err
		}
	}
	for _, p := range procMasked {
		if err := mask(filepath.Join(proc, p)); err != nil {
			return err
		}
	}
	return nil
}

// bindReadOnly binds p over itself read-only; a path the kernel does not
// have is skipped.
func bindReadOnly(p string) error {
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding %s: %w", p, err)
	}
	if err := unix.Mount("", p, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("making %s read-only: %w", p, err)
	}
	return nil
}

// mask covers a directory with an empty read-only tmpfs and a file with
// the null device, bound from the file nullDevice checked.
func mask(p string) error {
	st, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("masking %s: %w", p, err)
	case st.IsDir():
		err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0")
	default:
		var null *os.File
		if null, err = nullDevice(); err != nil {
			return fmt.Errorf("masking %s: %w", p, err)
		}
		err = unix.Mount(fdPath(null), p, "", unix.MS_BIND, "")
		null.Close()
	}
	if err != nil {
		return fmt.Errorf("masking %s: %w", p, err)
	}
	return nil
}

// nullDevice opens /dev/null, refusing anything but the null device
// itself: after the pivot /dev is the image's, which a step can write,
// and a link there to /proc/kcore must not unmask it.
func nullDevice() (*os.File, error) {
	f, err := os.OpenFile("/dev/null", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening /dev/null: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("opening /dev/null: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		f.Close()
		return nil, errors.New("/dev/null is not the null device; a step replaced it")
	}
	return f, nil
}

func fdPath(f *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) }

// limitCapabilities lowers every capability set of this thread to keep.
func limitCapabilities(keep capability.Set) error {
	last, err := lastCapability()
	if err != nil {
		return err
	}
	for c := uint(0); c <= last; c++ {
		if keep.Has(c) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clearing ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("reading capabilities: %w", err)
	}
	// A root process's new permitted set after execve is its bounding
	// set plus its inheritable set: the inheritable set goes empty.
	for i := range data {
		k := uint32(uint64(keep) >> (32 * i))
		data[i].Effective &= k
		data[i].Permitted &= k
		data[i].Inheritable = 0
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("lowering capabilities: %w", err)
	}
	return nil
}

// lastCapability is the highest capability number this kernel knows.
func lastCapability() (uint, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("reading the kernel's capabilities: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 8)
	if err != nil {
		return 0, fmt.Errorf("reading the kernel's capabilities: %w", err)
	}
	return uint(n), nil
}
