package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/testenv"
)

// requireLXD needs a running LXD daemon (ci/start-lxd.sh starts one).
func requireLXD(t testing.TB) {
	t.Helper()
	testenv.Command(t, "lxc", "lxd")
	err := exec.Command("lxc", "info").Run()
	testenv.Need(t, err == nil, "needs a running LXD daemon (ci/start-lxd.sh)")
}

func lxc(t testing.TB, args ...string) string {
	t.Helper()
	return lxcWith(t, nil, args...)
}

var importedFingerprint = regexp.MustCompile(`fingerprint: ([0-9a-f]{64})`)

// TestLXDImportAndLaunch builds the busybox recipe as a unified and as a
// split image, imports each into a real LXD daemon, which must report
// exactly the fingerprint of image.json, and launches a container whose
// hostname template names it.
func TestLXDImportAndLaunch(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	requireLXD(t)
	tmp := t.TempDir()
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000)
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"unified-gzip", []string{"--type", "unified", "--compression", "gzip"}},
		{"unified-zstd", []string{"--type", "unified", "--compression", "zstd"}},
		{"unified-xz", []string{"--type", "unified", "--compression", "xz"}},
		{"unified-none", []string{"--type", "unified", "--compression", "none"}},
		{"split-squashfs", []string{"--type", "split", "--compression", "xz", "--rootfs-format", "squashfs"}},
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
			alias := "builder-test-" + tt.name + "-" + suffix
			imported := lxc(t, append(append([]string{"image", "import"}, files...), "--alias", alias)...)
			m := importedFingerprint.FindStringSubmatch(imported)
			if m == nil || m[1] != j.Fingerprint {
				t.Fatalf("LXD imported %q; image.json says %s", imported, j.Fingerprint)
			}
			t.Cleanup(func() { _ = exec.Command("lxc", "image", "delete", alias).Run() })
			if info := lxc(t, "image", "info", alias); !strings.Contains(info, "Architecture: x86_64") {
				t.Errorf("image info:\n%s", info)
			}

			launchAndCheckHostname(t, alias, "bt-"+tt.name+"-"+suffix)
		})
	}
}
