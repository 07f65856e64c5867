package main

import (
	"strings"
	"testing"
)

// TestTmpfsLimits: a run step sees /tmp, /run and /dev/shm of the sizes
// the recipe's limits block gives, and cannot write more than that.
func TestTmpfsLimits(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	s := newHostileScene(t, `
for p in /tmp /run /dev/shm; do echo "size $p $(($(stat -f -c '%b * %S' $p) / 1024))k"; done
dd if=/dev/zero of=/tmp/big bs=1M count=8 && echo "WROTE 8M"`, "",
		"limits {\n  tmp_size = \"4MiB\"\n  run_size = \"2M\"\n  shm_size = 3145728\n}\n")
	stdout, stderr, err := s.run(t, "rootfs", "--cache-dir", "", s.recipe, s.rootfs)
	out := string(stdout) + string(stderr)
	if err == nil || strings.Contains(out, "WROTE 8M") {
		t.Fatalf("a step wrote 8 MiB into a 4 MiB /tmp: %v\n%s", err, out)
	}
	for _, want := range []string{"size /tmp 4096k", "size /run 2048k", "size /dev/shm 3072k", "No space left on device"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	s.checkHost(t)
}
