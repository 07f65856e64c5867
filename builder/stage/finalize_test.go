package stage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/builder/isolation"
)

func TestFinalize(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	sentinel := filepath.Join(outside, "host.log")
	write := func(p, content string) {
		t.Helper()
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/machine-id", "0123456789abcdef0123456789abcdef\n")
	write("var/lib/dbus/machine-id", "0123456789abcdef0123456789abcdef\n")
	write("etc/hostname", "buildhost\n")
	write("etc/resolv.conf", "nameserver 10.0.0.1\n")
	write("var/lib/apt/lists/deb.example_dists_bookworm_InRelease", "x")
	write("var/lib/apt/lists/lock", "")
	write("var/lib/apt/lists/partial/half", "x")
	write("var/cache/apt/pkgcache.bin", "x")
	write("var/cache/apt/archives/less_1.deb", "x")
	write("var/cache/apt/archives/lock", "")
	write("var/log/dpkg.log", "installed things\n")
	write("var/log/apt/history.log", "history\n")
	write("etc/ssh/ssh_host_ed25519_key", "secret")
	write("etc/ssh/ssh_host_ed25519_key.pub", "public")
	write("etc/ssh/sshd_config", "config")
	write("lib/systemd/system/ssh.service", "[Service]\n")
	if err := os.WriteFile(sentinel, []byte("host data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A log directory that escapes the image must not be followed.
	if err := os.Symlink(outside, filepath.Join(dir, "var/log/escape")); err != nil {
		t.Fatal(err)
	}

	host := HostIdentity{Hostname: []byte("buildhost\n"), ResolvConf: []byte("nameserver 10.0.0.1\n")}
	if err := Finalize(dir, host); err != nil {
		t.Fatal(err)
	}
	expect := map[string]string{
		"etc/machine-id":              "",
		"etc/hostname":                "localhost\n",
		"etc/resolv.conf":             "",
		"var/lib/apt/lists/lock":      "",
		"var/cache/apt/archives/lock": "",
		"var/log/dpkg.log":            "",
		"var/log/apt/history.log":     "",
		"etc/ssh/sshd_config":         "config",
		"etc/systemd/system/ssh.service.d/builder-host-keys.conf": sshKeysDropIn,
	}
	for p, want := range expect {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil || string(b) != want {
			t.Errorf("/%s = %q (%v), want %q", p, b, err, want)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "var/log/dpkg.log")); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("a truncated log keeps its mode: %v %v", st.Mode(), err)
	}
	for _, gone := range []string{
		"var/lib/dbus/machine-id", "var/lib/apt/lists/deb.example_dists_bookworm_InRelease",
		"var/lib/apt/lists/partial/half", "var/cache/apt/pkgcache.bin", "var/cache/apt/archives/less_1.deb",
		"etc/ssh/ssh_host_ed25519_key", "etc/ssh/ssh_host_ed25519_key.pub",
	} {
		if _, err := os.Lstat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
			t.Errorf("/%s is still there (%v)", gone, err)
		}
	}
	if b, _ := os.ReadFile(sentinel); string(b) != "host data\n" {
		t.Errorf("finalize followed a symlink out of the image: the host file is now %q", b)
	}

	// A systemd-resolved symlink is the distribution's and stays.
	dir2 := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir2, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../run/systemd/resolve/stub-resolv.conf", filepath.Join(dir2, "etc/resolv.conf")); err != nil {
		t.Fatal(err)
	}
	if err := Finalize(dir2, host); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(dir2, "etc/resolv.conf")); err != nil || target != "../run/systemd/resolve/stub-resolv.conf" {
		t.Errorf("resolv.conf symlink: %q %v", target, err)
	}
}

// TestSetupChrootRefusesEscapingMountPoints: a mount point that is a
// symlink out of the image is refused before anything is mounted, and
// nothing is created on the host. A /proc link (debootstrap's, in
// Docker) is replaced by the directory the commands mount their proc on.
func TestSetupChrootRefusesEscapingMountPoints(t *testing.T) {
	dir := t.TempDir()
	outside, outsideProc := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "sys")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outsideProc, filepath.Join(dir, "proc")); err != nil {
		t.Fatal(err)
	}
	c, err := isolation.SetupChroot(dir, isolation.TmpfsSizes{})
	if err == nil {
		_ = c.Teardown()
		t.Fatal("SetupChroot mounted through a symlink that leaves the image")
	}
	if want := "creating /sys"; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want %q", err, want)
	}
	for _, d := range []string{outside, outsideProc} {
		if entries, _ := os.ReadDir(d); len(entries) != 0 {
			t.Errorf("SetupChroot created %d entries on the host", len(entries))
		}
	}
	if st, err := os.Lstat(filepath.Join(dir, "proc")); err != nil || !st.IsDir() {
		t.Errorf("/proc is not a directory of the image: %v %v", st, err)
	}
}

// TestFinalizeKeepsTheRecipesOwnFiles: a hostname or resolv.conf that a
// recipe wrote differs from the host's and stays.
func TestFinalizeKeepsTheRecipesOwnFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"hostname": "appliance\n", "resolv.conf": "nameserver 192.0.2.53\n"} {
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	host := HostIdentity{Hostname: []byte("buildhost\n"), ResolvConf: []byte("nameserver 10.0.0.1\n")}
	if err := Finalize(dir, host); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "etc/hostname")); string(b) != "appliance\n" {
		t.Errorf("the recipe's hostname was reset: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "etc/resolv.conf")); string(b) != "nameserver 192.0.2.53\n" {
		t.Errorf("the recipe's resolv.conf was reset: %q", b)
	}
}

// TestFinalizeStaysInTheImage points whole directories of the image at
// the host: finalize must fail or skip, never touch the host's files.
func TestFinalizeStaysInTheImage(t *testing.T) {
	for _, link := range []string{"etc", "var/log", "var/lib/apt/lists", "etc/ssh"} {
		t.Run(link, func(t *testing.T) {
			dir := t.TempDir()
			outside := t.TempDir()
			victim := map[string]string{
				"hostname": "buildhost\n", "resolv.conf": "nameserver 10.0.0.1\n", "machine-id": "id\n",
				"syslog": "log\n", "ssh_host_rsa_key": "key", "lock": "", "pkgs_Packages": "x",
			}
			for name, content := range victim {
				if err := os.WriteFile(filepath.Join(outside, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			full := filepath.Join(dir, link)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, full); err != nil {
				t.Fatal(err)
			}
			host := HostIdentity{Hostname: []byte("buildhost\n"), ResolvConf: []byte("nameserver 10.0.0.1\n")}
			_ = Finalize(dir, host) // an error is fine; touching the host is not
			for name, content := range victim {
				if b, err := os.ReadFile(filepath.Join(outside, name)); err != nil || string(b) != content {
					t.Errorf("host file %s changed: %q, %v", name, b, err)
				}
			}
		})
	}
}
