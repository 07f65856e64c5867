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
func deviceArgs(t testing.TB, ports []string, shares []Share, memoryMiB int) []string {
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
		return args
	}
	args = append(args,
		"-object", fmt.Sprintf("memory-backend-memfd,id=mem,size=%dM,share=on", memoryMiB),
		"-numa", "node,memdev=mem")
	for i, s := range shares {
		id := "vfs" + strconv.Itoa(i)
		sock := startVirtiofsd(t, s.Dir)
		args = append(args, "-chardev", "socket,id="+id+",path="+qemuValue(sock),
			"-device", "vhost-user-fs-pci,chardev="+id+",tag="+qemuValue(s.Tag))
	}
	return args
}

// startVirtiofsd serves dir on a new socket and returns its path once
// virtiofsd listens there.
func startVirtiofsd(t testing.TB, dir string) string {
	t.Helper()
	// A unix socket path has room for 107 bytes: a test's own temporary
	// directory, named after the test, may be longer.
	sockDir, err := os.MkdirTemp("", "virtiofsd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "sock")
	cmd := exec.Command(VirtiofsdPath, "--socket-path="+sock, "-o", "source="+dir, "-o", "cache=none", "-o", "sandbox=chroot")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := os.Create(filepath.Join(sockDir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting virtiofsd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // gone already if qemu's exit ended it
		<-exited
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		select {
		case err := <-exited:
			exited <- err
			log, _ := os.ReadFile(filepath.Join(sockDir, "log"))
			t.Fatalf("virtiofsd for %s exited: %v\n%s", dir, err, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("virtiofsd for %s made no socket in 10s", dir)
		}
	}
}
