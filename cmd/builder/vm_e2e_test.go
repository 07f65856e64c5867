package main

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/qemutest"
	"github.com/builder-images/builder/internal/testenv"
)

// Bounds on a boot of the Debian VM image, to the login prompt and to
// systemd's "running". Under TCG (software emulation, which these
// machines leave us: their nested KVM fails) a boot measured 25 s on an
// idle 2-core machine, up to 96 s with the cores busy elsewhere
// (docs/benchmarks.md); the bounds leave room for a loaded machine.
const (
	bootLimitTCG = 10 * time.Minute
	bootLimitKVM = 2 * time.Minute
)

// TestVMImageDebian builds recipes/debian.hcl's vm output once, as a
// user would (`builder build --only vm`), and checks what a VM image
// must do: the disk holds the agent's units, rule and setup enabled and
// the VM's fstab and console getty; it boots under OVMF to a login
// prompt on the serial console with systemd "running", the agent started
// from the host's share, once as LXD starts it with secure boot enforced
// and Microsoft's keys, once as Incus does without; and LXD and Incus
// take it as a VIRTUAL-MACHINE image with image.json's fingerprint.
// Debootstrap (or the shared cache's stages), a kernel and two emulated
// boots: minutes, so -short skips it.
func TestVMImageDebian(t *testing.T) {
	if testing.Short() {
		t.Skip("debootstraps Debian and boots it under qemu (minutes)")
	}
	requireRoot(t)
	testenv.Command(t, "debootstrap", "debootstrap")
	out := filepath.Join(t.TempDir(), "out")
	start := time.Now()
	// The shared cache holds the container builds' stages when they ran
	// first: this build restores their common steps and runs the vm's.
	_, stderr, status := builderExec(t, nil, "build", "recipes/debian.hcl", "--only", "vm", "-o", out, "--quiet", "--cache-dir", debianCache(t))
	if status != 0 {
		t.Fatalf("builder build --only vm: exit %d\n%s", status, stderr)
	}
	t.Logf("built the vm output in %v", time.Since(start).Round(time.Second))
	dir := filepath.Join(out, "vm")
	j := readVMImageJSON(t, dir)
	if j.Type != "virtual-machine" || len(j.Files) != 2 || j.Files[0].Role != "metadata" || j.Files[1].Role != "disk" || j.Files[1].Name != "disk.qcow2" {
		t.Fatalf("image.json: type %q, files %+v; want a virtual-machine image of metadata and disk.qcow2", j.Type, j.Files)
	}
	disk := filepath.Join(dir, "disk.qcow2")

	t.Run("contents", func(t *testing.T) { checkVMDiskContents(t, disk, j) })
	// Two boots, each a whole one (a minute or more under TCG): LXD's
	// setup with secure boot enforced, as LXD starts a VM unless told
	// otherwise, and Incus's with the plain firmware. A third boot,
	// secure boot alone up to systemd's start, showed nothing the first
	// does not.
	t.Run("boot-secure", func(t *testing.T) { bootDebianVM(t, disk, "lxd", true) })
	// Incus cannot start VMs here either; the image's Incus side (its
	// port, unit, run directory and the newer hosts' "agent" share) is
	// booted under qemu as Incus would offer it.
	t.Run("boot-incus", func(t *testing.T) { bootDebianVM(t, disk, "incus", false) })
	// LXD and Incus take it as a VM image (neither can start one here:
	// these machines' kernel has no vhost_vsock).
	t.Run("import", func(t *testing.T) {
		for _, d := range testenv.Daemons(t) {
			t.Run(d.Name, func(t *testing.T) {
				alias := "builder-e2e-debian-vm-" + uniqueSuffix()
				cli(t, d, "image", "import", filepath.Join(dir, j.Files[0].Name), disk, "--alias", alias)
				deleteImageLaterOn(t, d, j.Fingerprint)
				listed := cli(t, d, "image", "list", alias, "--format", "csv", "--columns", "Ft")
				if strings.TrimSpace(listed) != j.Fingerprint+",VIRTUAL-MACHINE" {
					t.Errorf("%s image list %s: %q, want image.json's fingerprint %s and VIRTUAL-MACHINE", d.CLI, alias, listed, j.Fingerprint)
				}
				if info := cli(t, d, "image", "info", alias); !strings.Contains(info, "Architecture: x86_64") {
					t.Errorf("%s image info %s:\n%s", d.CLI, alias, info)
				}
			})
		}
	})
}

type vmImageJSON struct {
	imageJSON
	Disk struct {
		DiskGUID     string `json:"disk_guid"`
		ESPPartUUID  string `json:"esp_partuuid"`
		RootPartUUID string `json:"root_partuuid"`
		RootUUID     string `json:"root_uuid"`
	} `json:"disk"`
}

func readVMImageJSON(t *testing.T, dir string) vmImageJSON {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "image.json"))
	if err != nil {
		t.Fatal(err)
	}
	var j vmImageJSON
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	return j
}

// bootLimit is the bound for a boot with the accelerator vm runs with.
func bootLimit(vm *qemutest.VM) time.Duration {
	if vm.Accel == "kvm" {
		return bootLimitKVM
	}
	return bootLimitTCG
}

var (
	loginPrompt = regexp.MustCompile(`(?m)^\S+ login: `)
	// The line's end is part of the pattern: the console is matched as
	// it arrives, and "system r" is a prefix of "system running".
	systemRunning = regexp.MustCompile(`builder-test-agent: system (\w+)\r?\n`)
)

// bootDebianVM boots the disk as the daemon (lxd or incus) would start
// it, as far as qemu can say: the agent's virtio serial port
// (org.linuxcontainers.DAEMON) and a "config" share holding a stand-in
// agent (testdata/vmagent) and a certificate; for Incus the binary comes
// on a second share, "agent", as DAEMON-agent.linux.x86_64, the way newer
// Incus hands it over. The image's units for that daemon must start the
// agent from the shares in /run/DAEMON_agent; the agent reports, on the
// kernel log, what its setup copied and, once boot is over, systemd's
// state. With secureBoot the firmware is OVMF's secure-boot build with
// Microsoft's keys enrolled (OVMF_CODE_4M.ms.fd, SMM), as on a stock
// UEFI machine: shim (Microsoft-signed), grub and the kernel (Debian-
// signed) must each pass, the kernel must say so, and, locked down, load
// its signed modules for the disk and the shares before systemd runs;
// without, the kernel must say secure boot is off.
func bootDebianVM(t *testing.T, disk, daemon string, secureBoot bool) {
	qemutest.Require(t, secureBoot)
	qemutest.RequireVirtiofsd(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("boots an amd64 image with qemu-system-x86_64")
	}
	share := t.TempDir()
	shares := []qemutest.Share{{Tag: "config", Dir: share}}
	agent := daemon + "-agent"
	if daemon == "incus" {
		binaries := t.TempDir()
		buildTestAgent(t, filepath.Join(binaries, agent+".linux.x86_64"))
		shares = append(shares, qemutest.Share{Tag: "agent", Dir: binaries})
	} else {
		buildTestAgent(t, filepath.Join(share, agent))
	}
	token := randomToken(t)
	writeFile(t, filepath.Join(share, "agent.crt"), token+"\n")
	vm := qemutest.Boot(t, qemutest.Options{
		Disk:       disk,
		Ports:      []string{"org.linuxcontainers." + daemon},
		Shares:     shares,
		SecureBoot: secureBoot,
	})
	limit := bootLimit(vm)
	login, err := vm.Wait(loginPrompt, limit)
	if err != nil {
		t.Fatalf("no login prompt on ttyS0: %v", err)
	}
	running, err := vm.Wait(systemRunning, limit)
	if err != nil {
		t.Fatalf("the agent never reported the end of the boot: %v", err)
	}
	t.Logf("boot (%s, OVMF, secure boot %v): login prompt on ttyS0 after %v, systemd finished booting after %v",
		vm.Accel, secureBoot, login.Round(100*time.Millisecond), running.Round(100*time.Millisecond))
	console := vm.Console()
	if state := systemRunning.FindStringSubmatch(console)[1]; state != "running" {
		t.Errorf("systemd is %q, want running; the agent's report:\n%s", state, agentLines(console))
	}
	run := "/run/" + daemon + "_agent"
	want := `builder-test-agent: running in ` + run + ` holding agent.crt,` + agent + `; agent.crt says "` + token + `"`
	if !strings.Contains(console, want) {
		t.Errorf("the agent did not run from %s with the shares' files: want %q, got:\n%s", run, want, agentLines(console))
	}
	if secureBoot && !strings.Contains(console, "secureboot: Secure boot enabled") {
		t.Error("the kernel did not report secure boot enabled under the secure-boot firmware")
	}
	if !secureBoot && !strings.Contains(console, "secureboot: Secure boot disabled") {
		t.Error("the kernel did not report secure boot off under the plain firmware")
	}
}

// buildTestAgent builds testdata/vmagent, static, for the guest.
func buildTestAgent(t testing.TB, path string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", path, "./testdata/vmagent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the test agent: %v\n%s", err, out)
	}
}

func randomToken(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// agentLines are the console's lines from the test agent.
func agentLines(console string) string {
	var lines []string
	for _, l := range strings.Split(console, "\n") {
		if strings.Contains(l, "builder-test-agent:") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return strings.Join(lines, "\n")
}

// checkVMDiskContents reads the disk without booting it: the partitions
// image.json records, then, with debugfs on the root partition, the
// files that make it a VM image.
func checkVMDiskContents(t *testing.T, disk string, j vmImageJSON) {
	for tool, pkg := range map[string]string{"qemu-img": "qemu-utils", "sfdisk": "fdisk", "debugfs": "e2fsprogs"} {
		testenv.Command(t, tool, pkg)
	}
	raw := filepath.Join(t.TempDir(), "disk.raw")
	if out, err := exec.Command("qemu-img", "convert", "-O", "raw", disk, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	root := rootPartition(t, raw, j)
	fs := debugfsImage{t: t, image: raw + "?offset=" + strconv.FormatInt(root, 10)}

	for _, f := range []struct{ path, source, mode string }{
		{"/usr/lib/systemd/system/lxd-agent.service", "lxd-agent.service", "0644"},
		{"/usr/lib/systemd/system/incus-agent.service", "incus-agent.service", "0644"},
		{"/usr/lib/udev/rules.d/99-lxd-agent.rules", "99-lxd-agent.rules", "0644"},
		{"/usr/lib/udev/rules.d/99-incus-agent.rules", "99-incus-agent.rules", "0644"},
		{"/usr/libexec/vm-agent-setup", "vm-agent-setup", "0755"},
	} {
		want, err := os.ReadFile(filepath.Join("..", "..", "recipes", "files", "vm", f.source))
		if err != nil {
			t.Fatal(err)
		}
		if got := fs.cat(f.path); got != string(want) {
			t.Errorf("%s in the image differs from recipes/files/vm/%s:\n%s", f.path, f.source, got)
		}
		if st := fs.stat(f.path); !strings.Contains(st, "Mode:  "+f.mode) {
			t.Errorf("%s: want mode %s:\n%s", f.path, f.mode, st)
		}
	}
	// Enabled: systemctl enable's links, each to its unit.
	for _, link := range []string{
		"/etc/systemd/system/multi-user.target.wants/lxd-agent.service",
		"/etc/systemd/system/multi-user.target.wants/incus-agent.service",
		"/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service",
	} {
		unit := filepath.Base(link)
		if !strings.HasSuffix(unit, "@ttyS0.service") {
			unit = "/systemd/system/" + unit
		} else {
			unit = "/systemd/system/serial-getty@.service"
		}
		if st := fs.stat(link); !strings.Contains(st, "Type: symlink") || !strings.Contains(st, unit+`"`) {
			t.Errorf("%s is not a link to the unit (…%s):\n%s", link, unit, st)
		}
	}
	fstab := fs.cat("/etc/fstab")
	for _, want := range []string{"LABEL=rootfs  /          ext4", "LABEL=UEFI    /boot/efi  vfat"} {
		if !strings.Contains(fstab, want) {
			t.Errorf("/etc/fstab lacks %q:\n%s", want, fstab)
		}
	}
	if st := fs.stat("/boot/efi"); !strings.Contains(st, "Type: directory") {
		t.Errorf("/boot/efi, the ESP's mount point, is not a directory:\n%s", st)
	}
	// The container's masks are not the VM's: a VM has consoles and a clock.
	for _, unit := range []string{"getty-static.service", "systemd-timesyncd.service"} {
		if st := fs.stat("/etc/systemd/system/" + unit); strings.Contains(st, "Type: symlink") {
			t.Errorf("%s is masked in the VM image:\n%s", unit, st)
		}
	}
	for _, line := range strings.Split(fs.cat("/etc/shadow"), "\n") {
		if field := strings.Split(line, ":"); field[0] == "root" && len(field) > 1 {
			if pw := field[1]; pw != "*" && !strings.HasPrefix(pw, "!") {
				t.Errorf("root has a password in the VM image: %q", pw)
			}
		}
	}
}

// rootPartition checks the GPT of raw against image.json's disk record
// and returns the root partition's byte offset.
func rootPartition(t *testing.T, raw string, j vmImageJSON) int64 {
	t.Helper()
	out, err := exec.Command("sfdisk", "--json", raw).Output()
	if err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	var table struct {
		PartitionTable struct {
			Label, ID  string
			SectorSize int64
			Partitions []struct {
				Start      int64
				Type, UUID string
				Name       string
			}
		}
	}
	if err := json.Unmarshal(out, &table); err != nil {
		t.Fatalf("sfdisk --json: %v\n%s", err, out)
	}
	pt := table.PartitionTable
	if pt.Label != "gpt" || len(pt.Partitions) != 2 || !strings.EqualFold(pt.ID, j.Disk.DiskGUID) {
		t.Fatalf("partition table %+v; want GPT %s with two partitions", pt, j.Disk.DiskGUID)
	}
	esp, root := pt.Partitions[0], pt.Partitions[1]
	if !strings.EqualFold(esp.UUID, j.Disk.ESPPartUUID) || !strings.EqualFold(esp.Type, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B") {
		t.Errorf("first partition %+v; want the EFI system partition %s", esp, j.Disk.ESPPartUUID)
	}
	if !strings.EqualFold(root.UUID, j.Disk.RootPartUUID) {
		t.Errorf("second partition %+v; want the root partition %s", root, j.Disk.RootPartUUID)
	}
	return root.Start * cmp.Or(pt.SectorSize, 512)
}

// debugfsImage reads an ext4 image with debugfs, read-only.
type debugfsImage struct {
	t     *testing.T
	image string
}

func (d debugfsImage) run(request string) string {
	d.t.Helper()
	out, err := exec.Command("debugfs", "-R", request, d.image).Output()
	if err != nil {
		d.t.Fatalf("debugfs -R %q %s: %v", request, d.image, err)
	}
	return string(out)
}

// cat is path's content, "" when it is missing.
func (d debugfsImage) cat(path string) string { return d.run("cat " + path) }

// stat is debugfs's description of path, "" when it is missing.
func (d debugfsImage) stat(path string) string { return d.run("stat " + path) }
