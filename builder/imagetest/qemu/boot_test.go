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
