package isolation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The rootfs stage runs in a child process of its own, in new mount and
// PID namespaces, as distrobuilder does with a cgo constructor. Whatever
// the stage mounts lives in the child's mount namespace, and whatever it
// starts lives in the child's PID namespace: when the child dies, by any
// means including kill -9, the kernel unmounts the one and kills the
// other. The parent dies → the child gets SIGKILL (Pdeathsig) → same.

// parentMountNS carries builder's mount namespace to the child, which
// checks that its own is another.
const parentMountNS = "BUILDER_PARENT_MOUNT_NS"

// StopGrace is how long the child gets to clean up after SIGTERM before
// it is killed.
const StopGrace = 30 * time.Second

// RunIsolated re-executes the running binary with args in new mount and
// PID namespaces and waits for it; the child reads stdin from a pipe.
// Cancelling ctx sends the child SIGTERM, then SIGKILL after StopGrace.
func RunIsolated(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding builder's own binary: %w", err)
	}
	// Pdeathsig fires when the thread that started the child exits, not
	// the process: keep this goroutine on its thread until the child is
	// gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	// The child also watches a pipe whose only writer is this process:
	// Pdeathsig is armed after the fork, and with a new PID namespace the
	// child cannot tell whether builder died in between (its parent PID
	// reads 0), but a pipe's end of file it can.
	alive, lifeline, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("starting the isolated build: %w", err)
	}
	defer lifeline.Close()
	mountNS, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return fmt.Errorf("reading builder's mount namespace: %w", err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), parentMountNS+"="+mountNS)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.ExtraFiles = []*os.File{alive} // fd 3 in the child
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// UTS and IPC too: a hostname a maintainer script sets, or its
		// shared memory, must not reach the build host.
		Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC,
		Pdeathsig:  syscall.SIGKILL,
	}
	err = cmd.Start()
	alive.Close()
	if err != nil {
		return fmt.Errorf("starting the isolated build: %w", err)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(StopGrace):
				_ = cmd.Process.Kill()
			}
		case <-done:
		}
	}()
	err = cmd.Wait()
	close(done)
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("build interrupted: %w", ctx.Err())
	case errors.As(err, &exitErr):
		e := &IsolatedExitError{Status: exitErr.ExitCode()}
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.Signal = ws.Signal()
		}
		return e
	}
	return fmt.Errorf("isolated build: %w", err)
}

// IsolatedExitError is the isolated child's failure. When it exited, it
// has reported why itself; when a signal killed it (the OOM killer, kill
// -9), only this error can tell.
type IsolatedExitError struct {
	Status int
	Signal syscall.Signal // 0 unless killed by a signal
}

func (e *IsolatedExitError) Error() string {
	if e.Signal != 0 {
		return fmt.Sprintf("the isolated build was killed by signal %d (%s)", int(e.Signal), e.Signal)
	}
	return fmt.Sprintf("the isolated build exited with status %d", e.Status)
}

// Reported says whether the child already explained its failure.
func (e *IsolatedExitError) Reported() bool { return e.Signal == 0 }

// EnterIsolation is the first thing the isolated child does: it checks
// that it really is in its own namespaces and makes every mount private,
// so that nothing mounted from now on propagates to the host.
func EnterIsolation() error {
	if os.Getpid() != 1 {
		return errors.New("the rootfs stage must run isolated (PID 1 of its own PID namespace); run it through 'builder rootfs'")
	}
	// A mount namespace shared with builder's (and so the host's) must
	// not be made private: compare with the one builder recorded.
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return fmt.Errorf("checking the mount namespace: %w", err)
	}
	if parent := os.Getenv(parentMountNS); parent == "" || parent == self {
		return errors.New("the rootfs stage must run in its own mount namespace; run it through 'builder rootfs'")
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	// builder died before or after Pdeathsig was armed: stop, and with
	// this process the whole namespace.
	// The lifeline came without close-on-exec; no command of the build
	// may inherit it.
	unix.CloseOnExec(3)
	lifeline := os.NewFile(3, "builder lifeline")
	go func() {
		_, _ = io.Copy(io.Discard, lifeline)
		fmt.Fprintln(os.Stderr, "builder: the builder process is gone; stopping the build")
		os.Exit(1)
	}()
	return nil
}
