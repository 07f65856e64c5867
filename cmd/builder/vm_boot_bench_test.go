package main

// BenchmarkVMBoot, as root with network access to the Debian archive:
//
//	go test -run '^$' -bench VMBoot -benchtime=1x -timeout 60m ./cmd/builder
//
// boots recipes/debian.hcl's VM image (`builder rootfs --only vm`, then
// `builder pack --only vm`) against a disk made from the same rootfs
// distrobuilder's way (testdata/bench/vm-disk-by-hand.sh: loop device,
// rsync, update-grub in the chroot), each without and with secure boot
// (OVMF with Microsoft's keys), one after the other so that both see the
// same load. qemu runs with KVM when it works, else TCG. Metrics per
// iteration, in seconds from qemu's start, for ours and theirs, plain
// and -sb:
//
//	kernel-s   the kernel's first line on the serial console: firmware,
//	           shim and grub are behind
//	login-s    the login prompt on ttyS0
//	running-s  systemd's "running" (the test agent asks it)

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/benchutil"
	"github.com/builder-images/builder/internal/qemutest"
	"github.com/builder-images/builder/internal/testenv"
)

func BenchmarkVMBoot(b *testing.B) {
	if testing.Short() {
		b.Skip("debootstraps Debian and boots it under qemu")
	}
	requireRoot(b)
	testenv.Command(b, "debootstrap", "debootstrap")
	for tool, pkg := range map[string]string{"rsync": "rsync", "sgdisk": "gdisk", "mcopy": "mtools", "mkfs.vfat": "dosfstools"} {
		testenv.Command(b, tool, pkg)
	}
	qemutest.Require(b, true)
	qemutest.RequireVirtiofsd(b)
	tmp := b.TempDir()
	rootfs := filepath.Join(tmp, "rootfs")
	runBuilder(b, nil, "rootfs", "recipes/debian.hcl", "--only", "vm", rootfs)
	runBuilder(b, nil, "pack", rootfs, "--recipe", "recipes/debian.hcl", "--only", "vm", "-o", filepath.Join(tmp, "out"))
	theirs := filepath.Join(tmp, "by-hand.qcow2")
	if out, err := exec.Command("sh", "testdata/bench/vm-disk-by-hand.sh", rootfs, theirs).CombinedOutput(); err != nil {
		b.Fatalf("vm-disk-by-hand.sh: %v\n%s", err, out)
	}
	disks := []struct{ name, path string }{{"ours", filepath.Join(tmp, "out", "vm", "disk.qcow2")}, {"theirs", theirs}}
	share := b.TempDir()
	buildTestAgent(b, filepath.Join(share, "lxd-agent"))
	if err := os.WriteFile(filepath.Join(share, "agent.crt"), []byte("bench\n"), 0o600); err != nil {
		b.Fatal(err)
	}

	kernel := regexp.MustCompile(`Linux version`)
	var m benchutil.Metrics
	b.ResetTimer()
	for range b.N {
		for _, secureBoot := range []bool{false, true} {
			for _, d := range disks {
				name := d.name
				if secureBoot {
					name += "-sb"
				}
				vm := qemutest.Boot(b, qemutest.Options{
					Disk: d.path, SecureBoot: secureBoot,
					Ports:  []string{"org.linuxcontainers.lxd"},
					Shares: []qemutest.Share{{Tag: "config", Dir: share}},
				})
				for _, p := range []struct {
					metric string
					re     *regexp.Regexp
				}{{"kernel-s", kernel}, {"login-s", loginPrompt}, {"running-s", systemRunning}} {
					took, err := vm.Wait(p.re, 10*time.Minute)
					if err != nil {
						b.Fatalf("%s: %v", name, err)
					}
					m.Add(name+"-"+p.metric, took.Seconds())
				}
				vm.Stop()
			}
		}
	}
	m.Report(b)
}
