package qemutest

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestFirmwareStarts boots each firmware, plain and secure boot, with an
// empty disk: OVMF's boot manager must come up on the serial console,
// which checks the machine and firmware arguments qemu gets, the SMM
// ones included (without them the secure-boot build does not start).
func TestFirmwareStarts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs qemu (seconds to a minute under TCG)")
	}
	for _, secureBoot := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "secure-boot"}[secureBoot], func(t *testing.T) {
			Require(t, secureBoot)
			disk := filepath.Join(t.TempDir(), "empty.qcow2")
			if out, err := runQemuImg("create", "-q", "-f", "qcow2", disk, "64M"); err != nil {
				t.Fatalf("qemu-img: %v: %s", err, out)
			}
			before, err := os.ReadFile(disk)
			if err != nil {
				t.Fatal(err)
			}
			vm := Boot(t, Options{Disk: disk, SecureBoot: secureBoot, MemoryMiB: 256, CPUs: 1})
			took, err := vm.Wait(regexp.MustCompile(`BdsDxe`), 3*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("OVMF's boot manager after %v (%s)", took.Round(time.Millisecond), vm.Accel)
			vm.Stop()
			if after, _ := os.ReadFile(disk); string(after) != string(before) {
				t.Error("the disk changed: the VM wrote to it, not to its overlay")
			}
		})
	}
}
