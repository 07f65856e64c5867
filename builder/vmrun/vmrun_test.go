package vmrun

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDeviceArgs(t *testing.T) {
	sockets := map[string]string{AgentPort: "/tmp/x,y/port0.sock"}
	args := deviceArgs(Options{ConfigDrive: "/d/config.img", Ports: []string{AgentPort}, NIC: true}, "/o/overlay.qcow2", sockets, "02:00:00:00:00:01")
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"if=none,id=config,format=raw,readonly=on,file=/d/config.img",
		"socket,id=port0,path=/tmp/x,,y/port0.sock,server=on,wait=off",
		"virtserialport,bus=vserial.0,chardev=port0,name=" + AgentPort,
		"user,id=net0,restrict=on",
		// The NIC behind the fifth root port: bus 5, enp5s0.
		"pcie-root-port,id=rp5,bus=pcie.0,chassis=5,addr=0x2.4",
		"virtio-net-pci,netdev=net0,bus=rp5,addr=0x0,mac=02:00:00:00:00:01",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("qemu arguments lack %q:\n%s", want, joined)
		}
	}
	plain := strings.Join(deviceArgs(Options{}, "/o/overlay.qcow2", nil, "02:00:00:00:00:01"), " ")
	for _, unwanted := range []string{"netdev", "virtserialport", "id=config"} {
		if strings.Contains(plain, unwanted) {
			t.Errorf("without a NIC, ports or a drive, the arguments hold %q:\n%s", unwanted, plain)
		}
	}
	mac, err := randomMAC()
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`).MatchString(mac) {
		t.Fatalf("randomMAC: %q, %v", mac, err)
	}
	if b, _ := strconv.ParseUint(mac[:2], 16, 8); b&1 != 0 || b&2 == 0 {
		t.Errorf("MAC %s is not a locally administered unicast address", mac)
	}
}

func TestSecureBootFirmwareArgs(t *testing.T) {
	sb := strings.Join(OVMF("/fw", true).args("/v"), " ")
	for _, want := range []string{"-machine q35,smm=on", "OVMF_CODE_4M.ms.fd", "property=secure,value=on"} {
		if !strings.Contains(sb, want) {
			t.Errorf("secure boot arguments lack %q: %s", want, sb)
		}
	}
	if plain := OVMF("/fw", false).args("/v"); slices.Contains(plain, "q35,smm=on") {
		t.Errorf("plain firmware with SMM: %q", plain)
	}
}

// TestConfigDrive makes a drive and reads it back with mtools: the
// label the guest's setup looks for, and the files.
func TestConfigDrive(t *testing.T) {
	for _, tool := range []string{"mkfs.vfat", "mcopy", "mtype", "mlabel"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (dosfstools, mtools)", tool)
		}
	}
	src := t.TempDir()
	big := strings.Repeat("x", 3<<20)
	files := map[string]string{"lxd-agent": big, "agent.json": `{"files":[]}`}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(t.TempDir(), "config.img")
	if err := MakeConfigDrive(context.Background(), src, img); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	label := exec.Command("mlabel", "-i", img, "-s", "::")
	label.Env = env
	out, err := label.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "config") {
		t.Errorf("mlabel -s: %v: %q, want the label config", err, out)
	}
	for name, want := range files {
		cmd := exec.Command("mtype", "-i", img, "::"+name)
		cmd.Env = env
		got, err := cmd.Output()
		if err != nil || string(got) != want {
			t.Errorf("%s on the drive: %v, %d bytes, want %d", name, err, len(got), len(want))
		}
	}
	if err := os.Mkdir(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := MakeConfigDrive(context.Background(), src, img); err == nil {
		t.Error("a directory was put on the flat drive")
	}
}

// TestStartKillsQEMUWithContext runs a fake qemu and checks it is
// killed when the VM's context ends, and that Close removes its
// directory.
func TestStartKillsQEMUWithContext(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("needs qemu-img for the overlay")
	}
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", disk, "16M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	fw := t.TempDir()
	for _, f := range []string{"OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"} {
		if err := os.WriteFile(filepath.Join(fw, f), []byte("firmware"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pidFile := filepath.Join(dir, "pid")
	qemu := filepath.Join(dir, "qemu")
	script := "#!/bin/sh\necho $$ > " + pidFile + "\nprintf 'BdsDxe: booting\\r\\n'\nexec sleep 600\n"
	if err := os.WriteFile(qemu, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	vm, err := Start(ctx, Options{Disk: disk, Accel: "tcg", FirmwareDir: fw, QEMU: qemu, TempDir: t.TempDir(), Ports: []string{AgentPort}})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := vm.WaitConsole(wctx, regexp.MustCompile(`BdsDxe`)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(vm.PortSocket(AgentPort), vm.Dir()) {
		t.Errorf("the port's socket %q is not in the VM's directory %s", vm.PortSocket(AgentPort), vm.Dir())
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	cancel()
	select {
	case <-vm.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("qemu still runs after its context ended")
	}
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Errorf("qemu (pid %d) outlived its context: kill 0 says %v", pid, err)
	}
	if log, _ := os.ReadFile(vm.ConsolePath); !strings.Contains(string(log), "BdsDxe") {
		t.Errorf("console log %q", log)
	}
	if err := vm.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(vm.Dir()); !os.IsNotExist(err) {
		t.Errorf("the VM's directory is still there: %v", err)
	}
}
