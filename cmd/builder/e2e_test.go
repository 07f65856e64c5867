package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/events"
	"github.com/builder-images/builder/internal/testenv"
)

// testNetworks are the bridges ci/start-lxd.sh and ci/start-incus.sh
// create for containers that need a network to boot cleanly, and the
// prefix of the addresses their DHCP hands out.
var testNetworks = map[string]struct{ bridge, prefix string }{
	"lxd":   {"builderbr0", "10.213.87."},
	"incus": {"builderbr1", "10.213.88."},
}

// TestEndToEndDebian is the README's promise, whole: build
// recipes/debian.hcl's container output with --import into the real
// daemon (its VM output is vm_e2e_test.go's), import it into the other
// daemon too (LXD and Incus), launch it on each, and check that systemd
// reaches "running", that /etc/hostname is the container's name and that
// the image carries the recipe's properties. It runs a real debootstrap
// against the distribution's mirror, so it is skipped by -short. The
// build keeps its stages in a cache of its own, from which the lock
// subtest (e2e_lock_test.go) locks it and builds it --locked.
func TestEndToEndDebian(t *testing.T) {
	if testing.Short() {
		t.Skip("debootstraps Debian (a minute or two)")
	}
	requireRoot(t)
	daemons := testenv.Daemons(t)
	testenv.Command(t, "debootstrap", "debootstrap")
	testenv.Command(t, "mksquashfs", "squashfs-tools")
	for _, d := range daemons {
		err := exec.Command(d.CLI, "network", "show", testNetworks[d.Name].bridge).Run()
		testenv.Need(t, err == nil, "needs the "+d.Name+" network "+testNetworks[d.Name].bridge+" (ci/start-"+d.Name+".sh creates it)")
	}

	out := filepath.Join(t.TempDir(), "out")
	// The Debian tests' shared cache: this is the run's first Debian
	// build (its steps must run, checked below), and TestImageTestDebian's
	// default build is this one again, then served from these stages.
	cacheDir := debianCache(t)
	suffix := uniqueSuffix()
	alias := "builder-e2e-debian-" + suffix
	first := daemons[0]
	stdout, stderr, status := builderExec(t, nil, append([]string{"build", "recipes/debian.hcl", "--only", "container", "-o", out, "--import=" + alias, "--json", "--cache-dir", cacheDir}, first.Args()...)...)
	if status != 0 {
		t.Fatalf("build --import: exit %d\n%s", status, stderr)
	}
	j := readImageJSON(t, filepath.Join(out, "container"))
	checkSBOM(t, filepath.Join(out, "container"))
	deleteImageLaterOn(t, first, j.Fingerprint)

	var imported bool
	for _, e := range decodeEvents(t, stdout) {
		switch {
		case e.Type == events.StepEnd && (e.Status != events.StatusOK || e.Duration <= 0):
			t.Errorf("step %s: %s after %vs", e.Step.Header(), e.Status, e.Duration)
		case e.Type == events.Import:
			imported = e.Fingerprint == j.Fingerprint
		}
	}
	if !imported {
		t.Errorf("no import event with fingerprint %s", j.Fingerprint)
	}
	for k, v := range map[string]string{"os": "debian", "release": "bookworm", "variant": "default", "architecture": "amd64"} {
		if j.Properties[k] != v {
			t.Errorf("property %s = %q, want the recipe's %q", k, j.Properties[k], v)
		}
	}
	for _, d := range daemons {
		t.Run(d.Name, func(t *testing.T) {
			if d != first {
				importJSON(t, append([]string{filepath.Join(out, "container"), "--alias", alias}, d.Args()...)...)
				deleteImageLaterOn(t, d, j.Fingerprint)
			}
			bootDebianContainer(t, d, alias, j, suffix)
		})
	}
	t.Run("lock", func(t *testing.T) { lockDebian(t, cacheDir, filepath.Join(out, "container")) })
	t.Run("image", func(t *testing.T) { customiseDebianImage(t, cacheDir, filepath.Join(out, "container"), first, suffix) })
}

// bootDebianContainer checks the imported image on d: its properties,
// and two containers that must boot to systemd's "running".
func bootDebianContainer(t *testing.T, d testenv.Daemon, alias string, j imageJSON, suffix string) {
	info := cli(t, d, "image", "info", alias)
	for k, v := range j.Properties {
		if !strings.Contains(info, "    "+k+": "+v+"\n") {
			t.Errorf("%s image info lacks the property %s: %s:\n%s", d.CLI, k, v, info)
		}
	}

	// With a NIC on the test bridge, and without any: a profile without
	// a NIC is common, and networking.service used to fail there
	// ("ifup: failed to bring up eth0"), leaving systemd degraded.
	network := testNetworks[d.Name]
	name, bare := "bt-e2e-deb-"+suffix, "bt-e2e-nonic-"+suffix
	cli(t, d, "launch", alias, name, "--network", network.bridge)
	cliLater(t, d, "delete", "--force", name)
	cli(t, d, "launch", alias, bare, "--no-profiles", "--storage", "default")
	cliLater(t, d, "delete", "--force", bare)
	for _, c := range []string{name, bare} {
		if state := systemStateOn(t, d, c, 2*time.Minute); state != "running" {
			failed, _ := exec.Command(d.CLI, "exec", c, "--", "systemctl", "--failed", "--no-legend").CombinedOutput()
			t.Errorf("systemd in %s is %q, want running; failed units:\n%s", c, state, failed)
		}
	}
	if got := strings.TrimSpace(cli(t, d, "exec", name, "--", "cat", "/etc/hostname")); got != name {
		t.Errorf("/etc/hostname = %q, want the container's name %q", got, name)
	}
	if devices := cli(t, d, "exec", bare, "--", "ls", "/sys/class/net"); strings.Contains(devices, "eth0") {
		t.Errorf("the container launched without a NIC has one: %s", devices)
	}
	// The NIC is configured by DHCP from the bridge, and names resolve
	// through the DNS server it announced.
	if addr := waitFor(t, 30*time.Second, func() string {
		return cli(t, d, "exec", name, "--", "ip", "-4", "-o", "addr", "show", "dev", "eth0")
	}, "inet "+network.prefix); !strings.Contains(addr, "inet "+network.prefix) {
		t.Errorf("eth0 got no address on %s:\n%s", network.bridge, addr)
	}
	if dns := cli(t, d, "exec", name, "--", "resolvectl", "dns", "eth0"); !strings.Contains(dns, network.prefix+"1") {
		t.Errorf("resolvectl dns eth0: %s, want the bridge's %s1", dns, network.prefix)
	}
	privilegedStopKeepsHostBinfmt(t, d, alias, suffix)
}

// privilegedStopKeepsHostBinfmt starts and stops a privileged container
// of the image and checks the host's binfmt_misc handlers are all still
// there: in a privileged container binfmt_misc is the host's, and
// bookworm's systemd-shutdown unregisters every handler at each stop
// unless the image keeps binfmt_misc unmounted (debian.hcl does), which
// once took qemu-user away from every foreign-architecture build.
func privilegedStopKeepsHostBinfmt(t *testing.T, d testenv.Daemon, alias, suffix string) {
	t.Helper()
	const dir = "/proc/sys/fs/binfmt_misc"
	before := binfmtHandlers(t, dir)
	if len(before) == 0 {
		t.Logf("the host has no binfmt_misc handlers to lose: the privileged stop is not checked")
		return
	}
	name := "bt-e2e-priv-" + suffix
	cli(t, d, "launch", alias, name, "--no-profiles", "--storage", "default", "-c", "security.privileged=true")
	cliLater(t, d, "delete", "--force", name)
	if state := systemStateOn(t, d, name, 2*time.Minute); state != "running" {
		t.Errorf("systemd in the privileged %s is %q, want running", name, state)
	}
	cli(t, d, "stop", name)
	if after := binfmtHandlers(t, dir); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("stopping a privileged container changed the host's binfmt_misc handlers:\nbefore: %v\nafter:  %v", before, after)
	}
}

// binfmtHandlers lists the handlers registered in dir.
func binfmtHandlers(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if e.Name() != "register" && e.Name() != "status" {
			names = append(names, e.Name())
		}
	}
	return names
}

// waitFor runs probe until its output contains want or limit passes,
// and returns its last output.
func waitFor(t *testing.T, limit time.Duration, probe func() string, want string) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		out := probe()
		if strings.Contains(out, want) || time.Now().After(deadline) {
			return out
		}
		time.Sleep(time.Second)
	}
}

// systemStateOn waits for systemd in d's container to finish booting and
// returns what `systemctl is-system-running` says then.
func systemStateOn(t *testing.T, d testenv.Daemon, name string, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		out, _ := exec.Command(d.CLI, "exec", name, "--", "systemctl", "is-system-running").Output()
		state := strings.TrimSpace(string(out))
		switch state {
		case "running", "degraded", "maintenance", "stopping":
			return state
		}
		if time.Now().After(deadline) {
			return state
		}
		time.Sleep(time.Second)
	}
}

// TestForeignArchitectureImport builds a small arm64 Debian under
// qemu-user-static's binfmt emulation and imports it: LXD must take it as
// an aarch64 image, and the image's own dpkg must have said arm64.
//
// It runs in parallel, as do TestRootfsDebian and TestKeyringFromURL:
// go test starts them after every other test of the package, two at a
// time (-parallel defaults to the 2 cores' count). Each is a bootstrap
// that waits on the mirror, then runs dpkg (here under emulation), one
// core at most; each has its own directories, no cache, and checks
// nothing of the host's that another changes (binfmt handlers are only
// read; the import has its own alias). Run one after the other they
// took 5 to 6 minutes of the suite.
func TestForeignArchitectureImport(t *testing.T) {
	if testing.Short() {
		t.Skip("bootstraps arm64 Debian under emulation (a minute or two)")
	}
	requireRoot(t)
	t.Parallel()
	requireLXD(t)
	testenv.Command(t, "mmdebstrap", "mmdebstrap")
	if runtime.GOARCH != "amd64" {
		t.Skip("the test emulates arm64 on amd64")
	}
	_, err := os.Stat("/proc/sys/fs/binfmt_misc/qemu-aarch64")
	testenv.Need(t, err == nil, "needs the qemu-aarch64 binfmt handler (apt-get install qemu-user-static binfmt-support)")

	out := filepath.Join(t.TempDir(), "out")
	alias := "builder-test-arm64-" + uniqueSuffix()
	_, stderr, status := builderExec(t, nil, "build", "cmd/builder/testdata/rootfs/arm64-essential.hcl", "-o", out, "--import="+alias, "--cache-dir", "")
	if status != 0 {
		t.Fatalf("build: exit %d\n%s", status, stderr)
	}
	j := readImageJSON(t, out)
	deleteImageLater(t, j.Fingerprint)
	if j.Architecture != "aarch64" || j.Properties["architecture"] != "arm64" {
		t.Errorf("image.json: architecture %s, property %s", j.Architecture, j.Properties["architecture"])
	}
	if info := lxc(t, "image", "info", alias); !strings.Contains(info, "Architecture: aarch64") || !strings.Contains(info, "Fingerprint: "+j.Fingerprint) {
		t.Errorf("lxc image info:\n%s", info)
	}
}
