package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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

	if err := Finalize(dir); err != nil {
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
	if err := Finalize(dir2); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(dir2, "etc/resolv.conf")); err != nil || target != "../run/systemd/resolve/stub-resolv.conf" {
		t.Errorf("resolv.conf symlink: %q %v", target, err)
	}
}

func TestSetupChrootRefusesSymlinkedMountPoints(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "proc")); err != nil {
		t.Fatal(err)
	}
	c, err := SetupChroot(dir)
	if err == nil {
		_ = c.Teardown()
		t.Fatal("SetupChroot mounted through a symlink")
	}
	if want := "refusing to mount on /proc"; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want %q", err, want)
	}
}
