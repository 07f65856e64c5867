package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/testenv"
)

// requireLXD needs a running LXD daemon (ci/start-lxd.sh starts one).
// Tests that hold for Incus as well take testenv.Daemons instead.
func requireLXD(t testing.TB) {
	t.Helper()
	testenv.Command(t, "lxc", "lxd")
	err := exec.Command("lxc", "info").Run()
	testenv.Need(t, err == nil, "needs a running LXD daemon (ci/start-lxd.sh)")
}

// lxdDaemon is LXD as the LXD-only helpers below address it.
func lxdDaemon() testenv.Daemon { return testenv.Daemon{Name: "lxd", CLI: "lxc"} }

// lxc runs LXD's client, which must succeed.
func lxc(t testing.TB, args ...string) string {
	t.Helper()
	return cli(t, lxdDaemon(), args...)
}

// cli runs the daemon's client, lxc or incus, which must succeed.
func cli(t testing.TB, d testenv.Daemon, args ...string) string {
	t.Helper()
	return cliWith(t, d, nil, args...)
}

// cliWith runs the daemon's client with extra environment (its own
// LXD_CONF or INCUS_CONF, say), which must succeed.
func cliWith(t testing.TB, d testenv.Daemon, env []string, args ...string) string {
	t.Helper()
	cmd, cancel := daemonClient(d, cliLimit, args...)
	defer cancel()
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", d.CLI, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// cliLimit bounds one call of a daemon's client: LXD 5.0's client has
// been seen waiting forever for an operation the daemon had finished
// (an image delete, 12 minutes until killed), which would hang the
// whole suite until go test's timeout instead of failing one test.
const cliLimit = 5 * time.Minute

// daemonClient is the daemon's client running args, killed after limit.
func daemonClient(d testenv.Daemon, limit time.Duration, args ...string) (*exec.Cmd, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	cmd := exec.CommandContext(ctx, d.CLI, args...)
	cmd.WaitDelay = 5 * time.Second
	return cmd, cancel
}

// cliLater runs the daemon's client when the test ends, ignoring errors:
// cleanup of what may already be gone.
func cliLater(t testing.TB, d testenv.Daemon, args ...string) {
	t.Cleanup(func() {
		cmd, cancel := daemonClient(d, time.Minute, args...)
		defer cancel()
		_ = cmd.Run()
	})
}

// confVar is the variable that points the daemon's client at its own
// configuration directory.
func confVar(d testenv.Daemon) string { return strings.ToUpper(d.Name) + "_CONF" }

var importedFingerprint = regexp.MustCompile(`fingerprint: ([0-9a-f]{64})`)

// TestLXDImportAndLaunch builds the busybox recipe as a unified and as a
// split image, imports each with the daemon's own client into LXD and
// into Incus, which must report exactly the fingerprint of image.json,
// and launches a container whose hostname template names it.
func TestLXDImportAndLaunch(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	daemons := testenv.Daemons(t)
	tmp := t.TempDir()
	suffix := uniqueSuffix()
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"unified-gzip", []string{"--type", "unified", "--compression", "gzip"}},
		{"unified-zstd", []string{"--type", "unified", "--compression", "zstd"}},
		{"unified-xz", []string{"--type", "unified", "--compression", "xz"}},
		{"unified-none", []string{"--type", "unified", "--compression", "none"}},
		{"split-squashfs", []string{"--type", "split", "--compression", "xz", "--rootfs-format", "squashfs"}},
		// A zstd squashfs: LXD 5.0.2 and Incus 6.0.4 unpack it (with
		// the host's unsquashfs), measured in issue 19.
		{"split-squashfs-zstd", []string{"--type", "split", "--compression", "zstd", "--rootfs-format", "squashfs"}},
		{"split-tar", []string{"--type", "split", "--compression", "zstd", "--rootfs-format", "tar"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(tmp, tt.name)
			runBuilder(t, nil, append([]string{"build", "recipes/busybox.hcl", "--output", out}, tt.args...)...)
			j := readImageJSON(t, out)
			var files []string
			for _, f := range j.Files {
				files = append(files, filepath.Join(out, f.Name))
			}
			for _, d := range daemons {
				t.Run(d.Name, func(t *testing.T) {
					alias := "builder-test-" + tt.name + "-" + suffix
					imported := cli(t, d, append(append([]string{"image", "import"}, files...), "--alias", alias)...)
					m := importedFingerprint.FindStringSubmatch(imported)
					if m == nil || m[1] != j.Fingerprint {
						t.Fatalf("%s imported %q; image.json says %s", d.Name, imported, j.Fingerprint)
					}
					cliLater(t, d, "image", "delete", alias)
					if info := cli(t, d, "image", "info", alias); !strings.Contains(info, "Architecture: x86_64") {
						t.Errorf("image info:\n%s", info)
					}
					launchAndCheckHostnameOn(t, d, alias, "bt-"+tt.name+"-"+suffix)
				})
			}
		})
	}
}

// launchAndCheckHostnameOn launches alias as a container on d and checks
// the hostname template named /etc/hostname after it.
func launchAndCheckHostnameOn(t *testing.T, d testenv.Daemon, alias, name string) {
	t.Helper()
	cli(t, d, "launch", alias, name)
	cliLater(t, d, "delete", "--force", name)
	waitRunningOn(t, d, name)
	if got := strings.TrimSpace(cli(t, d, "exec", name, "--", "cat", "/etc/hostname")); got != name {
		t.Errorf("/etc/hostname = %q, want the container's name %q (the hostname template)", got, name)
	}
}

// waitRunningOn waits up to 60 s for d's container to be running.
func waitRunningOn(t *testing.T, d testenv.Daemon, name string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		state := strings.TrimSpace(cli(t, d, "list", name, "--format", "csv", "--columns", "s"))
		if state == "RUNNING" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s container %s is %q after 60 s", d.Name, name, state)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// deleteImageLater removes an image from LXD when the test ends.
func deleteImageLater(t *testing.T, fingerprint string) {
	deleteImageLaterOn(t, lxdDaemon(), fingerprint)
}

// deleteImageLaterOn removes an image from d when the test ends.
func deleteImageLaterOn(t *testing.T, d testenv.Daemon, fingerprint string) {
	cliLater(t, d, "image", "delete", fingerprint)
}
