package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/internal/testenv"
)

// TestRootfsDebian bootstraps bookworm minbase with debootstrap and with
// mmdebstrap, installs a package and runs a step: the real thing, a
// minute or so each, so -short skips it. Both run at once, and beside
// the other parallel tests (see TestForeignArchitectureImport): each
// waits on the mirror, then runs dpkg, one core at most.
func TestRootfsDebian(t *testing.T) {
	if testing.Short() {
		t.Skip("bootstraps Debian from the network; skipped with -short")
	}
	requireRoot(t)
	t.Parallel()
	bin := builderBinary(t)
	for _, tool := range []string{"debootstrap", "mmdebstrap"} {
		t.Run(tool, func(t *testing.T) {
			t.Parallel()
			testenv.Command(t, tool, tool)
			dir := filepath.Join(t.TempDir(), "rootfs")
			cmd := exec.Command(bin, "rootfs", "--var", "tool="+tool, "cmd/builder/testdata/rootfs/debian-small.hcl", dir)
			cmd.Dir = filepath.Join("..", "..")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("builder rootfs: %v\n%s", err, tail(out, 40))
			}
			if b, err := os.ReadFile(filepath.Join(dir, "etc/checked")); err != nil || string(b) != "checked\n" {
				t.Errorf("the run step did not run: %q, %v", b, err)
			}
			dpkg, err := exec.Command("chroot", dir, "dpkg-query", "-W", "-f", "${Package} ${Status}\n", "less").CombinedOutput()
			if err != nil || !bytes.Contains(dpkg, []byte("less install ok installed")) {
				t.Errorf("chroot dpkg-query: %v\n%s", err, dpkg)
			}
			host, _ := os.Hostname()
			hostname, _ := os.ReadFile(filepath.Join(dir, "etc/hostname"))
			if strings.TrimSpace(string(hostname)) == host {
				t.Errorf("/etc/hostname is the build host's (%s)", host)
			}
			if id, err := os.ReadFile(filepath.Join(dir, "etc/machine-id")); err == nil && len(id) > 0 {
				t.Errorf("/etc/machine-id is %q, want empty", id)
			}
			resolv, _ := os.ReadFile("/etc/resolv.conf")
			if got, _ := os.ReadFile(filepath.Join(dir, "etc/resolv.conf")); len(resolv) > 0 && bytes.Equal(got, resolv) {
				t.Error("/etc/resolv.conf is the build host's")
			}
			if lists, _ := filepath.Glob(filepath.Join(dir, "var/lib/apt/lists/*_Packages")); len(lists) > 0 {
				t.Errorf("apt lists left in the image: %v", lists)
			}
			for _, p := range []string{"usr/sbin/policy-rc.d", "etc/resolv.conf.builder-original"} {
				if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
					t.Errorf("/%s is left in the image", p)
				}
			}
			assertNothingMounted(t, dir)
		})
	}
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
