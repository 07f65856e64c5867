package qemutest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/testenv"
)

// VirtiofsdPath is where Debian's qemu-system-common installs virtiofsd.
const VirtiofsdPath = "/usr/lib/qemu/virtiofsd"

// Share is a host directory the guest sees as a virtiofs file system
// with the given tag, as LXD and Incus hand their agent to a VM.
type Share struct {
	Tag, Dir string
}

// deviceArgs are the qemu arguments for virtio serial ports named ports
// (nothing is connected to them: their presence is what a guest reacts
// to) and for shares, starting a virtiofsd for each, which t's cleanup
// stops. virtiofs needs the guest's memory shared with virtiofsd.
func deviceArgs(t testing.TB, ports []string, shares []Share, memoryMiB int) ([]string, []*virtiofsd) {
	t.Helper()
	var args []string
	if len(ports) > 0 {
		args = append(args, "-device", "virtio-serial-pci,id=vserial")
		for i, name := range ports {
			id := "port" + strconv.Itoa(i)
			args = append(args, "-chardev", "null,id="+id,
				"-device", "virtserialport,bus=vserial.0,chardev="+id+",name="+qemuValue(name))
		}
	}
	if len(shares) == 0 {
		return args, nil
	}
	args = append(args,
		"-object", fmt.Sprintf("memory-backend-memfd,id=mem,size=%dM,share=on", memoryMiB),
		"-numa", "node,memdev=mem")
	var daemons []*virtiofsd
	for i, s := range shares {
		id := "vfs" + strconv.Itoa(i)
		d := startVirtiofsd(t, s.Dir)
		daemons = append(daemons, d)
		args = append(args, "-chardev", "socket,id="+id+",path="+qemuValue(d.sock),
			"-device", "vhost-user-fs-pci,chardev="+id+",tag="+qemuValue(s.Tag))
	}
	return args, daemons
}

// virtiofsd is one running virtiofsd.
type virtiofsd struct {
	dir, sock string
	log       testenv.SyncBuffer
	exited    chan struct{}
	err       error // valid once exited is closed
}

// report says whether d still runs, and what it logged, for errors.
func (d *virtiofsd) report() string {
	state := "running"
	select {
	case <-d.exited:
		state = fmt.Sprintf("exited (%v)", d.err)
	default:
	}
	return fmt.Sprintf("--- virtiofsd for %s, %s:\n%s", d.dir, state, tail(d.log.String(), 20))
}

// startVirtiofsd serves dir on a new socket and returns once virtiofsd
// listens there.
func startVirtiofsd(t testing.TB, dir string) *virtiofsd {
	t.Helper()
	// A unix socket path has room for 107 bytes: a test's own temporary
	// directory, named after the test, may be longer.
	sockDir, err := os.MkdirTemp("", "virtiofsd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	d := &virtiofsd{dir: dir, sock: filepath.Join(sockDir, "sock"), exited: make(chan struct{})}
	cmd := exec.Command(VirtiofsdPath, "--socket-path="+d.sock, "-o", "source="+dir, "-o", "cache=none", "-o", "sandbox=chroot")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = &d.log, &d.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting virtiofsd: %v", err)
	}
	go func() {
		d.err = cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // gone already if qemu's exit ended it
		<-d.exited
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(d.sock); err == nil {
			return d
		}
		select {
		case <-d.exited:
			t.Fatalf("virtiofsd for %s exited: %v\n%s", dir, d.err, d.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("virtiofsd for %s made no socket in 10s:\n%s", dir, d.log.String())
		}
	}
}
