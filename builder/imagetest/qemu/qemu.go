// Package qemu is imagetest's backend for VM images on a host whose
// daemon cannot run VMs: each configuration boots the image's disk
// under qemu (package vmrun) with builder itself as the guest's agent
// (package vmagent) on a read-only drive labelled config, holding the
// image's templates rendered for the instance as a daemon would render
// them. The checks then run through the agent.
//
// Nothing outlives the test but what --keep-on-failure keeps: the
// VMs' files under one temporary directory. qemu itself dies with
// builder.
package qemu

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/imagetest"
	"github.com/builder-images/builder/builder/vmagent"
	"github.com/builder-images/builder/builder/vmrun"
)

// Options tune the backend; the zero value suits `builder test`.
type Options struct {
	// TempDir is where the backend's directory is made; "" is
	// os.TempDir(). Unix socket paths under it must stay short.
	TempDir string
	// Accel is "kvm" or "tcg"; "" probes KVM once and falls back to
	// TCG.
	Accel string
	// MemoryMiB and CPUs size each VM (vmrun's defaults when 0).
	MemoryMiB, CPUs int
	// FirmwareDir is OVMF's; "" is vmrun.FirmwareDir.
	FirmwareDir string
	// Agent is the program the guest runs as its agent; "" is the
	// running builder (/proc/self/exe), whose main() becomes the agent
	// when named lxd-agent.
	Agent string
	// QEMU is the program; "" is qemu-system-x86_64.
	QEMU string
	// AgentGrace is how long after the guest's login prompt its agent
	// may take to answer before the instance is given up on (see
	// NoAgentError); 0 is agentGrace, 2 minutes.
	AgentGrace time.Duration
}

// Backend boots VM images under qemu; see the package comment.
type Backend struct {
	opts Options
	// ctx bounds the VMs' lives: Cleanup cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	mu          sync.Mutex
	dir         string // the backend's directory, "" before Prepare
	img         *imagetest.Image
	files       imageFiles
	accel       string
	secureBoot  bool
	instances   map[string]*instance // launched and not deleted
	cleanedUp   bool
	agentBinary string
	// agentGrace is opts.AgentGrace, or agentGrace when 0.
	agentGrace time.Duration
}

var _ imagetest.Backend = (*Backend)(nil)

// New returns a backend; Prepare readies it for one image.
func New(opts Options) *Backend {
	ctx, cancel := context.WithCancel(context.Background())
	grace := opts.AgentGrace
	if grace <= 0 {
		grace = agentGrace
	}
	return &Backend{opts: opts, ctx: ctx, cancel: cancel, instances: map[string]*instance{}, agentGrace: grace}
}

func (b *Backend) Name() string { return "qemu" }

// Prepare reads the image (metadata.yaml, its templates, the disk),
// checks the host has what a boot needs and picks the accelerator.
func (b *Backend) Prepare(ctx context.Context, img *imagetest.Image) error {
	if t := img.JSON.InstanceType(); t != image.InstanceVM {
		return fmt.Errorf("qemu boots VM images; %s is a %s image", img.Dir, t)
	}
	// qemu-system-x86_64 and OVMF boot x86_64 disks, and the guest's
	// agent is this very program: both must be x86_64.
	if arch := img.JSON.Architecture; arch != "x86_64" || runtime.GOARCH != "amd64" {
		return fmt.Errorf("the qemu backend boots x86_64 VM images on an x86_64 host; %s is %s, this host %s", img.Dir, arch, runtime.GOARCH)
	}
	// /proc/self/exe rather than os.Executable's path: it reads the
	// running program even when its file was replaced or removed since
	// (a rebuild during a long test).
	agent := cmp.Or(b.opts.Agent, "/proc/self/exe")
	dir, err := os.MkdirTemp(b.opts.TempDir, "builder-qemu-")
	if err != nil {
		return fmt.Errorf("qemu backend: %w", err)
	}
	b.mu.Lock()
	b.dir, b.img, b.agentBinary = dir, img, agent
	b.mu.Unlock()
	files, err := readImage(ctx, img.Dir, img.JSON, dir)
	if err != nil {
		return fmt.Errorf("qemu backend: %w", err)
	}
	b.files = files
	b.secureBoot = img.JSON.Disk != nil && img.JSON.Disk.SecureBoot
	fw := vmrun.OVMF(cmp.Or(b.opts.FirmwareDir, vmrun.FirmwareDir), b.secureBoot)
	if err := fw.Check(); err != nil {
		return fmt.Errorf("qemu backend: %w", err)
	}
	b.accel = b.opts.Accel
	if b.accel == "" {
		b.accel = "tcg"
		if vmrun.ProbeKVM(ctx, cmp.Or(b.opts.QEMU, "qemu-system-x86_64"), fw, dir) {
			b.accel = "kvm"
		}
	}
	return nil
}

// Accel is the accelerator the VMs run with, once Prepare picked it.
func (b *Backend) Accel() string { return b.accel }

// Properties are metadata.yaml's: what a daemon would import.
func (b *Backend) Properties(ctx context.Context) (map[string]string, error) {
	return b.files.metadata.Properties, nil
}

// Launch boots the image for spec and connects to the agent's port; it
// does not wait for the guest's agent (the exec check does).
func (b *Backend) Launch(ctx context.Context, spec imagetest.LaunchSpec) (_ imagetest.Instance, err error) {
	if spec.Config.InstanceType != image.InstanceVM {
		return nil, fmt.Errorf("qemu backend: configuration %s is for a %s; qemu runs VMs only", spec.Config.Name, spec.Config.InstanceType)
	}
	b.mu.Lock()
	if b.dir == "" || b.cleanedUp {
		b.mu.Unlock()
		return nil, errors.New("qemu backend: Launch before Prepare or after Cleanup")
	}
	if _, dup := b.instances[spec.Name]; dup {
		b.mu.Unlock()
		return nil, fmt.Errorf("qemu backend: instance %s exists", spec.Name)
	}
	inst := &instance{name: spec.Name, dir: filepath.Join(b.dir, spec.Name), watch: newAgentWatch()}
	// Recorded before anything can fail: Cleanup removes it.
	b.instances[spec.Name] = inst
	b.mu.Unlock()

	if err := os.Mkdir(inst.dir, 0o700); err != nil {
		return nil, fmt.Errorf("qemu backend: %w", err)
	}
	drive, err := b.configDrive(ctx, inst.dir, spec)
	if err != nil {
		return nil, fmt.Errorf("qemu backend: %s: %w", spec.Name, err)
	}
	vm, err := vmrun.Start(b.ctx, vmrun.Options{
		Disk:        b.files.disk,
		SecureBoot:  b.secureBoot,
		Accel:       b.accel,
		MemoryMiB:   b.opts.MemoryMiB,
		CPUs:        b.opts.CPUs,
		FirmwareDir: b.opts.FirmwareDir,
		TempDir:     inst.dir,
		ConfigDrive: drive,
		Ports:       []string{vmrun.AgentPort},
		NIC:         spec.Config.NIC,
		// cloud-init decides at boot, before the agent has written its
		// seed, whether it has a data source: under a daemon the DMI
		// board name says LXD, and its agent serves /dev/lxd/sock,
		// which builder's does not. "ds=nocloud" in the serial number
		// makes it take the NoCloud seed the templates write instead
		// (/var/lib/cloud/seed/nocloud-net). Images without cloud-init
		// ignore it.
		SystemSerial: "ds=nocloud",
		QEMU:         b.opts.QEMU,
	})
	if err != nil {
		return nil, fmt.Errorf("qemu backend: %s: %w", spec.Name, err)
	}
	inst.vm = vm
	conn, err := dialPort(ctx, vm)
	if err != nil {
		return nil, fmt.Errorf("qemu backend: %s: %w", spec.Name, err)
	}
	inst.agent = vmagent.NewClient(conn)
	go inst.watch.watch(b.ctx, func(ctx context.Context) error { return vm.WaitConsole(ctx, loginPrompt) }, b.agentGrace)
	return inst, nil
}

// configDrive makes the instance's config drive: the agent and its
// configuration, the templates rendered for the instance.
func (b *Backend) configDrive(ctx context.Context, dir string, spec imagetest.LaunchSpec) (string, error) {
	files, err := b.files.renderFiles(instanceSpec{
		name: spec.Name, fingerprint: b.img.JSON.Fingerprint, config: spec.InstanceConfig, nic: spec.Config.NIC,
	})
	if err != nil {
		return "", err
	}
	staging := filepath.Join(dir, "config")
	if err := os.Mkdir(staging, 0o700); err != nil {
		return "", err
	}
	defer os.RemoveAll(staging) // the drive holds it all
	if err := copyFile(b.agentBinary, filepath.Join(staging, "lxd-agent"), 0o755); err != nil {
		return "", fmt.Errorf("the guest's agent: %w", err)
	}
	if err := vmagent.WriteConfig(staging, vmagent.Config{Files: files}); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "config.img")
	if err := vmrun.MakeConfigDrive(ctx, staging, path); err != nil {
		return "", err
	}
	return path, nil
}

// dialPort connects to the agent's serial port socket, which qemu makes
// as it starts.
func dialPort(ctx context.Context, vm *vmrun.VM) (net.Conn, error) {
	sock := vm.PortSocket(vmrun.AgentPort)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", sock)
		if err == nil {
			return conn, nil
		}
		select {
		case <-vm.Done():
			return nil, fmt.Errorf("qemu exited as it started (%v): %s", vm.Err(), vm.Stderr())
		case <-ctx.Done():
			return nil, fmt.Errorf("qemu made no socket for the agent's port: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Delete kills the instance's VM and removes its files.
func (b *Backend) Delete(ctx context.Context, i imagetest.Instance) error {
	inst, ok := i.(*instance)
	if !ok {
		return fmt.Errorf("qemu backend: %s is not its instance", i.Name())
	}
	b.mu.Lock()
	delete(b.instances, inst.name)
	b.mu.Unlock()
	return inst.remove()
}

// Cleanup deletes every instance left and the backend's directory.
func (b *Backend) Cleanup(ctx context.Context) error {
	b.mu.Lock()
	b.cleanedUp = true
	left := b.instances
	b.instances = map[string]*instance{}
	dir := b.dir
	b.mu.Unlock()
	var errs []error
	for _, inst := range left {
		errs = append(errs, inst.remove())
	}
	b.cancel()
	if dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("qemu backend: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Kept says what remains when Cleanup is not called: qemu dies with
// builder, the VMs' files (overlay, console log) stay.
func (b *Backend) Kept() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir == "" || b.cleanedUp {
		return nil
	}
	var kept []string
	for _, inst := range b.instances {
		kept = append(kept, fmt.Sprintf("qemu VM %s (stops when builder exits): its disk overlay and serial console log in %s; remove with: rm -r %s", inst.name, inst.dir, inst.dir))
	}
	if len(kept) > 0 {
		kept = append(kept, fmt.Sprintf("the qemu backend's directory %s; remove with: rm -r %s", b.dir, b.dir))
	}
	return kept
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
