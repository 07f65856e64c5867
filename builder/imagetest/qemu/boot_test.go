package qemu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/imagetest"
	"github.com/builder-images/builder/builder/vmagent"
	"github.com/builder-images/builder/internal/testenv"
)

// TestMain lets the test binary be the guest's agent, as builder is:
// the backend copies the running program into the VM as lxd-agent.
func TestMain(m *testing.M) {
	if vmagent.IsAgent(os.Args[0]) {
		os.Exit(vmagent.Main())
	}
	code := m.Run()
	if imageTmp != "" {
		os.RemoveAll(imageTmp)
	}
	os.Exit(code)
}

// imageTmp holds the Debian VM image debianVMImage built, removed when
// the tests end; "" when none was built.
var imageTmp string

// debianVMImage is recipes/debian.hcl's vm output, built once per test
// binary (minutes; the build cache makes a second build quick), or the
// output directory $BUILDER_TEST_VM_IMAGE names.
var debianVMImage = sync.OnceValues(func() (string, error) {
	if dir := os.Getenv("BUILDER_TEST_VM_IMAGE"); dir != "" {
		return dir, nil
	}
	tmp, err := os.MkdirTemp("", "builder-qemu-test-")
	if err != nil {
		return "", err
	}
	imageTmp = tmp
	bin := filepath.Join(tmp, "builder")
	if out, err := exec.Command("go", "build", "-o", bin, "../../../cmd/builder").CombinedOutput(); err != nil {
		return "", &buildError{"go build", err, out}
	}
	out := filepath.Join(tmp, "out")
	cmd := exec.Command(bin, "build", "recipes/debian.hcl", "--only", "vm", "-o", out, "--quiet")
	cmd.Dir = "../../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{"builder build recipes/debian.hcl --only vm", err, b}
	}
	return filepath.Join(out, "vm"), nil
})

type buildError struct {
	what string
	err  error
	out  []byte
}

func (e *buildError) Error() string { return e.what + ": " + e.err.Error() + "\n" + string(e.out) }

func requireVM(t *testing.T) *imagetest.Image {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and boots the Debian VM image under qemu (minutes)")
	}
	testenv.Root(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("boots an amd64 image with qemu-system-x86_64")
	}
	for cmd, pkg := range map[string]string{"qemu-system-x86_64": "qemu-system-x86", "qemu-img": "qemu-utils", "mkfs.vfat": "dosfstools", "mcopy": "mtools", "debootstrap": "debootstrap"} {
		testenv.Command(t, cmd, pkg)
	}
	testenv.File(t, "/usr/share/OVMF/OVMF_CODE_4M.ms.fd", "ovmf")
	start := time.Now()
	dir, err := debianVMImage()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the Debian VM image %s ready in %v", dir, time.Since(start).Round(time.Second))
	j, err := image.ReadImageJSON(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &imagetest.Image{Dir: dir, JSON: j}
}

func token(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestBackendBootsDebianVM drives the backend by hand over the Debian VM
// image, without a NIC and with one: the agent answers, systemd is
// running, the hostname template took, the NIC (enp5s0) has an address
// (and without one nothing has), a file pushed runs, a clean stop ends
// qemu, and Cleanup leaves nothing.
func TestBackendBootsDebianVM(t *testing.T) {
	img := requireVM(t)
	b := New(Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	prepared := time.Now()
	if err := b.Prepare(ctx, img); err != nil {
		t.Fatal(err)
	}
	t.Logf("prepared in %v (accelerator %s)", time.Since(prepared).Round(10*time.Millisecond), b.Accel())
	dir := b.dir
	defer func() {
		if err := b.Cleanup(context.Background()); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("Cleanup left %s: %v", dir, err)
		}
	}()
	props, _ := b.Properties(ctx)
	if props["os"] != "debian" {
		t.Errorf("properties %v", props)
	}
	for _, nic := range []bool{false, true} {
		config := map[bool]string{false: "vm", true: "vm-nic"}[nic]
		t.Run(config, func(t *testing.T) {
			name := "builder-test-" + config + "-" + token(t)
			bootBackend(t, ctx, b, imagetest.LaunchSpec{Config: imagetest.Configuration{Name: config, InstanceType: image.InstanceVM, NIC: nic}, Name: name})
		})
	}
}

func bootBackend(t *testing.T, ctx context.Context, b *Backend, spec imagetest.LaunchSpec) {
	start := time.Now()
	inst, err := b.Launch(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Delete(ctx, inst); err != nil {
			t.Error(err)
		}
	}()
	vm := inst.(*instance).vm
	t.Logf("booting (%s), console in %s", b.Accel(), vm.ConsolePath)
	fail := func(format string, args ...any) {
		t.Helper()
		console, _ := inst.Console(ctx)
		lines := strings.Split(strings.TrimSpace(console), "\n")
		t.Fatalf(format+"\n--- console's last lines:\n%s", append(args, strings.Join(lines[max(len(lines)-30, 0):], "\n"))...)
	}
	run := func(argv ...string) imagetest.ExecResult {
		t.Helper()
		res, err := inst.Exec(ctx, argv)
		if err != nil {
			fail("%q: %v", argv, err)
		}
		return res
	}
	if res := run("echo", "hello"); res.Stdout != "hello\n" {
		t.Errorf("echo: %+v", res)
	}
	t.Logf("the agent answered after %v", time.Since(start).Round(100*time.Millisecond))
	if res := run("systemctl", "is-system-running", "--wait"); strings.TrimSpace(res.Stdout) != "running" {
		failed := run("systemctl", "--failed", "--no-legend")
		t.Errorf("systemd is %q; failed units:\n%s", res.Stdout, failed.Stdout)
	}
	t.Logf("systemd finished booting after %v", time.Since(start).Round(100*time.Millisecond))
	// The root disk is sda: the config drive is on another bus.
	if res := run("findmnt", "-n", "-o", "SOURCE", "/"); strings.TrimSpace(res.Stdout) != "/dev/sda2" {
		t.Errorf("the root file system is on %q, want /dev/sda2", res.Stdout)
	}
	if res := run("cat", "/etc/hostname"); strings.TrimSpace(res.Stdout) != spec.Name {
		t.Errorf("/etc/hostname holds %q, want %q", res.Stdout, spec.Name)
	}
	if res := run("hostname"); strings.TrimSpace(res.Stdout) != spec.Name {
		t.Errorf("hostname prints %q, want %q", res.Stdout, spec.Name)
	}
	if spec.Config.NIC {
		var addrs []string
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
			if addrs, err = inst.Addresses(ctx); err == nil && len(addrs) > 0 {
				break
			}
		}
		if len(addrs) == 0 {
			t.Errorf("no global IPv4 address (%v); ip addr:\n%s", err, run("ip", "addr").Stdout)
		}
		if res := run("ip", "-o", "link", "show", "enp5s0"); res.ExitStatus != 0 {
			t.Errorf("the NIC is not enp5s0: %s%s", res.Stderr, run("ip", "-o", "link").Stdout)
		}
	} else if addrs, err := inst.Addresses(ctx); err != nil || len(addrs) > 0 {
		t.Errorf("addresses without a NIC: %q, %v", addrs, err)
	}
	if err := inst.PushFile(ctx, "/run/builder-test/hi", []byte("#!/bin/sh\necho hi from $(id -un)\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Through sh: the VM's /run is noexec (the initramfs mounts it so).
	if res := run("sh", "/run/builder-test/hi"); res.Stdout != "hi from root\n" {
		t.Errorf("the pushed script: %+v", res)
	}
	stopped := time.Now()
	if err := inst.Stop(ctx, 30*time.Second); err != nil {
		fail("stop: %v", err)
	}
	t.Logf("stopped in %v; the whole run took %v", time.Since(stopped).Round(100*time.Millisecond), time.Since(start).Round(time.Second))
}

// TestBackendCloudInit boots the cloud variant's VM image, named by
// $BUILDER_TEST_VM_CLOUD_IMAGE (building it here would take minutes
// more), with user-data and vendor-data: the rendered seed must reach
// cloud-init before it runs, and cloud-init must apply both.
func TestBackendCloudInit(t *testing.T) {
	dir := os.Getenv("BUILDER_TEST_VM_CLOUD_IMAGE")
	if dir == "" {
		t.Skip("set BUILDER_TEST_VM_CLOUD_IMAGE to a cloud variant's vm output (builder build recipes/debian.hcl --var variant=cloud --only vm)")
	}
	t.Setenv("BUILDER_TEST_VM_IMAGE", dir)
	img := requireVM(t)
	b := New(Options{})
	defer b.Cleanup(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := b.Prepare(ctx, img); err != nil {
		t.Fatal(err)
	}
	tok := token(t)
	config := map[string]string{
		"user.user-data":   "#cloud-config\nwrite_files:\n  - path: /var/lib/builder-test/user-data\n    content: \"user-data " + tok + "\\n\"\nruncmd:\n  - [sh, -c, \"echo runcmd " + tok + " > /var/lib/builder-test/runcmd\"]\n",
		"user.vendor-data": "#cloud-config\nbootcmd:\n  - [sh, -c, \"mkdir -p /var/lib/builder-test && echo vendor-data " + tok + " > /var/lib/builder-test/vendor-data\"]\n",
	}
	inst, err := b.Launch(ctx, imagetest.LaunchSpec{Config: imagetest.Configuration{Name: "vm-nic", InstanceType: image.InstanceVM, NIC: true}, Name: "builder-test-vm-nic-" + tok, InstanceConfig: config})
	if err != nil {
		t.Fatal(err)
	}
	res, err := inst.Exec(ctx, []string{"cloud-init", "status", "--wait", "--long"})
	if err != nil || !strings.Contains(res.Stdout, "status: done") {
		console, _ := inst.Console(ctx)
		t.Fatalf("cloud-init status: %v %+v\n%s", err, res, console[max(len(console)-3000, 0):])
	}
	for file, want := range map[string]string{"user-data": "user-data " + tok, "runcmd": "runcmd " + tok, "vendor-data": "vendor-data " + tok} {
		res, err := inst.Exec(ctx, []string{"cat", "/var/lib/builder-test/" + file})
		if err != nil || strings.TrimSpace(res.Stdout) != want {
			t.Errorf("%s: %+v, %v; want %q", file, res, err, want)
		}
	}
	if res, _ := inst.Exec(ctx, []string{"systemctl", "is-system-running", "--wait"}); strings.TrimSpace(res.Stdout) != "running" {
		failed, _ := inst.Exec(ctx, []string{"systemctl", "--failed", "--no-legend"})
		t.Errorf("systemd is %q; failed units:\n%s", res.Stdout, failed.Stdout)
	}
	if err := inst.Stop(ctx, 30*time.Second); err != nil {
		t.Error(err)
	}
}
