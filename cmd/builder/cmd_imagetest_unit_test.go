package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The usage of `builder test`, which needs no daemon.
func TestTestCommandUsage(t *testing.T) {
	repoRoot(t)
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"test"}, exitUsage, "requires at least 1 arg"},
		{[]string{"test", "out", "--daemon", "docker"}, exitUsage, "--daemon must be lxd or incus"},
		{[]string{"test", "out", "--config", "bogus"}, exitUsage, `no configuration "bogus" (there are unprivileged, privileged, nic, vm, vm-nic)`},
		{[]string{"test", "out", "--timeout", "0s"}, exitUsage, "the timeout must be positive"},
		{[]string{"build", "recipes/busybox.hcl", "--test", "--test-config", "vm,bogus"}, exitUsage, `no configuration "bogus"`},
		{[]string{"test", filepath.Join(t.TempDir(), "missing")}, exitFailure, "reading image description"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, stderr, code := runCLI(t, "", nil, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, want %d; stderr:\n%s\nwant %q", code, tt.code, stderr, tt.want)
			}
		})
	}
}
