// Package vmrun boots a VM image's disk under qemu, outside any daemon:
// UEFI firmware (OVMF, with secure boot and Microsoft's keys when the
// image's boot chain is signed), the disk behind a throw-away qcow2
// overlay so the image stays as built, the serial console captured to a
// file, KVM when it works and TCG (software emulation) otherwise, and
// what the guest's LXD agent looks for: a virtio serial port named
// org.linuxcontainers.lxd and a read-only drive labelled config.
//
// `builder test` uses it to check a VM image where no daemon can run
// VMs (package imagetest/qemu). A VM is killed when the context it was
// started with ends, by Kill or Close, and by the kernel should builder
// die first.
package vmrun

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// AgentPort is the virtio serial port LXD gives a VM for its agent; the
// VM images' udev rule starts lxd-agent.service when it appears.
const AgentPort = "org.linuxcontainers.lxd"

// Options say what to boot and how.
type Options struct {
	// Disk is the qcow2 image. It is never written: the VM writes to an
	// overlay in its directory.
	Disk string
	// SecureBoot boots Microsoft-keys secure-boot firmware.
	SecureBoot bool
	// Accel is "kvm" or "tcg"; "" probes KVM (ProbeKVM) and falls back
	// to TCG.
	Accel string
	// MemoryMiB defaults to 1024 and CPUs to 2.
	MemoryMiB, CPUs int
	// FirmwareDir defaults to FirmwareDir.
	FirmwareDir string
	// TempDir is where the VM's directory is made (overlay, variable
	// store, console log, sockets); "" is os.TempDir(). Its path must
	// be short: unix socket paths have room for about 100 bytes.
	TempDir string
	// ConfigDrive is a FAT image (MakeConfigDrive) attached read-only.
	ConfigDrive string
	// Ports are virtio serial ports, by name, each on a unix socket in
	// the VM's directory (PortSocket) that the host connects to.
	Ports []string
	// NIC adds a virtio NIC on qemu's user-mode network, restricted
	// (the guest reaches neither the host nor the outside; qemu's DHCP
	// still answers it), in the PCI slot that makes it enp5s0 in the
	// guest, as under LXD and Incus.
	NIC bool
	// SystemSerial is the machine's SMBIOS serial number (type 1), ""
	// for qemu's default. cloud-init reads "ds=nocloud" there as the
	// sign to use its NoCloud seed: see package imagetest/qemu.
	SystemSerial string
	// QEMU is the program; "" is qemu-system-x86_64 from PATH.
	QEMU string
}

// VM is one running qemu.
type VM struct {
	cmd     *exec.Cmd
	dir     string
	console *console
	stderr  syncBuffer
	done    chan struct{} // closed when qemu has exited and been reaped
	err     error         // qemu's exit, valid once done is closed
	sockets map[string]string
	qmp     string
	// ConsolePath is the file holding the serial console: its first
	// 16 MiB (maxConsoleFile), then a note that the rest was dropped.
	ConsolePath string
	// Accel is the accelerator the VM runs with.
	Accel string
}

// Start boots opts.Disk and returns once qemu runs. The VM lives until
// ctx ends, Kill or Close.
func Start(ctx context.Context, opts Options) (_ *VM, err error) {
	if opts.Disk == "" {
		return nil, errors.New("vmrun: no disk")
	}
	qemu := cmp.Or(opts.QEMU, "qemu-system-x86_64")
	if _, err := exec.LookPath(qemu); err != nil {
		return nil, fmt.Errorf("vmrun: %w (Debian package qemu-system-x86)", err)
	}
	fw := OVMF(cmp.Or(opts.FirmwareDir, FirmwareDir), opts.SecureBoot)
	if err := fw.Check(); err != nil {
		return nil, fmt.Errorf("vmrun: %w", err)
	}
	dir, err := os.MkdirTemp(opts.TempDir, "vm-")
	if err != nil {
		return nil, fmt.Errorf("vmrun: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if len(dir) > 80 {
		return nil, fmt.Errorf("vmrun: the VM's directory %s is too long for its unix sockets: give a shorter TempDir", dir)
	}
	vars, err := fw.copyVars(dir)
	if err != nil {
		return nil, fmt.Errorf("vmrun: %w", err)
	}
	overlay, err := Overlay(ctx, opts.Disk, dir)
	if err != nil {
		return nil, fmt.Errorf("vmrun: %w", err)
	}
	accel := opts.Accel
	if accel == "" {
		accel = "tcg"
		if ProbeKVM(ctx, qemu, fw, dir) {
			accel = "kvm"
		}
	}
	vm := &VM{
		dir: dir, console: newConsole(), done: make(chan struct{}), sockets: map[string]string{},
		ConsolePath: filepath.Join(dir, "console.log"), Accel: accel, qmp: filepath.Join(dir, "qmp.sock"),
	}
	for i, name := range opts.Ports {
		vm.sockets[name] = filepath.Join(dir, "port"+strconv.Itoa(i)+".sock")
	}
	mac, err := randomMAC()
	if err != nil {
		return nil, fmt.Errorf("vmrun: %w", err)
	}
	args := append(fw.args(vars), commonArgs(accel, cmp.Or(opts.MemoryMiB, 1024), cmp.Or(opts.CPUs, 2))...)
	args = append(args, deviceArgs(opts, overlay, vm.sockets, mac)...)
	args = append(args, "-qmp", "unix:"+qemuValue(vm.qmp)+",server=on,wait=off")
	if opts.SystemSerial != "" {
		args = append(args, "-smbios", "type=1,serial="+qemuValue(opts.SystemSerial))
	}

	log, err := os.Create(vm.ConsolePath)
	if err != nil {
		return nil, fmt.Errorf("vmrun: serial console log: %w", err)
	}
	vm.cmd = exec.Command(qemu, args...)
	vm.cmd.Stderr = &vm.stderr
	// Its own process group, killed whole; and killed by the kernel
	// should builder die before it can.
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := vm.cmd.StdoutPipe()
	if err != nil {
		log.Close()
		return nil, fmt.Errorf("vmrun: %w", err)
	}
	if err := vm.cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("vmrun: starting qemu: %w", err)
	}
	copied := make(chan struct{})
	go func() {
		copyOut(stdout, &limitWriter{w: log, left: maxConsoleFile}, vm.console)
		log.Close()
		close(copied)
	}()
	go func() {
		<-copied // Wait closes stdout: read it all first
		vm.err = vm.cmd.Wait()
		close(vm.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			vm.Kill()
		case <-vm.done:
		}
	}()
	return vm, nil
}

// commonArgs are the arguments every boot shares: accelerator, size,
// no display, the serial console on stdout, no default devices.
func commonArgs(accel string, memoryMiB, cpus int) []string {
	return []string{
		"-accel", accel,
		"-m", strconv.Itoa(memoryMiB),
		"-smp", strconv.Itoa(cpus),
		"-display", "none", "-monitor", "none", "-vga", "none",
		"-serial", "stdio",
		"-nic", "none",
		// Entropy, as LXD gives its VMs: without it a guest can stall
		// early in boot waiting for the random pool.
		"-device", "virtio-rng-pci,addr=0x3",
		// A panic or reboot ends qemu rather than looping.
		"-no-reboot",
	}
}

// deviceArgs are the disks, ports and NIC. Devices on the root bus
// have fixed addresses: the NIC's bus number depends on the bridges
// before it.
func deviceArgs(opts Options, overlay string, sockets map[string]string, mac string) []string {
	args := []string{
		// virtio-scsi, as LXD attaches an instance's root disk.
		"-device", "virtio-scsi-pci,id=scsi0,addr=0x4",
		"-drive", "if=none,id=root,format=qcow2,file=" + qemuValue(overlay),
		"-device", "scsi-hd,drive=root,bus=scsi0.0,scsi-id=0,lun=0,bootindex=1",
	}
	if opts.ConfigDrive != "" {
		// virtio-blk, not a second disk on the SCSI bus: the root disk
		// stays sda whatever order the guest finds them in.
		args = append(args,
			"-drive", "if=none,id=config,format=raw,readonly=on,file="+qemuValue(opts.ConfigDrive),
			"-device", "virtio-blk-pci,drive=config,addr=0x6")
	}
	if len(opts.Ports) > 0 {
		args = append(args, "-device", "virtio-serial-pci,id=vserial,addr=0x5")
		for i, name := range opts.Ports {
			id := "port" + strconv.Itoa(i)
			args = append(args,
				"-chardev", "socket,id="+id+",path="+qemuValue(sockets[name])+",server=on,wait=off",
				"-device", "virtserialport,bus=vserial.0,chardev="+id+",name="+qemuValue(name))
		}
	}
	if opts.NIC {
		// The firmware numbers the buses behind PCIe root ports in
		// slot order: the fifth is bus 5, and a NIC in its slot 0 is
		// enp5s0 to systemd's naming, the name LXD's NIC has.
		for i := 1; i <= 5; i++ {
			port := fmt.Sprintf("pcie-root-port,id=rp%d,bus=pcie.0,chassis=%d,addr=0x2.%d", i, i, i-1)
			if i == 1 {
				port += ",multifunction=on"
			}
			args = append(args, "-device", port)
		}
		args = append(args,
			"-netdev", "user,id=net0,restrict=on",
			"-device", "virtio-net-pci,netdev=net0,bus=rp5,addr=0x0,mac="+mac)
	}
	return args
}

// randomMAC is a locally administered unicast address.
func randomMAC() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	b[0] = b[0]&0xfc | 0x02
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]), nil
}

// PortSocket is the unix socket of the serial port name: connect to it
// to talk to the guest on that port.
func (vm *VM) PortSocket(name string) string { return vm.sockets[name] }

// Dir is the VM's directory, removed by Close.
func (vm *VM) Dir() string { return vm.dir }

// Console is what the serial console printed so far (its last 4 MiB).
func (vm *VM) Console() string { return vm.console.String() }

// Stderr is what qemu printed on its stderr.
func (vm *VM) Stderr() string { return vm.stderr.String() }

// WaitConsole waits until re matches the serial console, qemu exits or
// ctx ends.
func (vm *VM) WaitConsole(ctx context.Context, re *regexp.Regexp) error {
	if err := vm.console.wait(ctx, re); err != nil {
		if errors.Is(err, errEnded) {
			<-vm.done
			return fmt.Errorf("qemu exited before %q on the serial console (%v): %s", re, vm.err, strings.TrimSpace(vm.Stderr()))
		}
		return err
	}
	return nil
}

// Done is closed when qemu has exited.
func (vm *VM) Done() <-chan struct{} { return vm.done }

// Err is how qemu exited; valid once Done is closed.
func (vm *VM) Err() error { return vm.err }

// Kill kills qemu and waits for it to exit; it may be called again.
func (vm *VM) Kill() {
	select {
	case <-vm.done:
		return
	default:
	}
	_ = syscall.Kill(-vm.cmd.Process.Pid, syscall.SIGKILL) // gone already if it exited meanwhile
	<-vm.done
}

// Close kills qemu and removes the VM's directory.
func (vm *VM) Close() error {
	vm.Kill()
	if err := os.RemoveAll(vm.dir); err != nil {
		return fmt.Errorf("vmrun: %w", err)
	}
	return nil
}

// Overlay creates a qcow2 in dir backed by disk and returns its path:
// the VM writes there, and disk stays as built.
func Overlay(ctx context.Context, disk, dir string) (string, error) {
	abs, err := filepath.Abs(disk)
	if err != nil {
		return "", fmt.Errorf("overlay for %s: %w", disk, err)
	}
	path := filepath.Join(dir, "overlay.qcow2")
	out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", abs, path).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("qemu-img create an overlay for %s: %w: %s", disk, err, strings.TrimSpace(string(out)))
	}
	return path, nil
}

// qemuValue escapes a value inside qemu's comma-separated options.
func qemuValue(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// syncBuffer is a bytes.Buffer safe for a writer and readers at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 { // qemu's complaints fit; a flood is cut
		return len(p), nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
