package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/internal/testenv"
)

// TestSimulateNightly runs ci/simulate-nightly.sh, the nightly workflow's
// jobs on this machine: the matrix of a two-variant recipe, both build
// jobs, and the publish job into a tree on a real S3 server on loopback,
// which prune and verify then read back.
func TestSimulateNightly(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	_, err := exec.LookPath("versitygw")
	testenv.Need(t, err == nil, "needs versitygw on PATH (make test-deps builds it into bin/tools)")
	testenv.Command(t, "ss", "iproute2")
	cmd := exec.Command("ci/simulate-nightly.sh", "-j", "2", "ci/testdata/busybox-matrix.hcl")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "BUILDER="+builderBinary(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("simulate-nightly: %v\n%s", err, out)
	}
	for _, want := range []string{
		"==> build busybox-matrix-default", "==> build busybox-matrix-tiny",
		"published busybox:nightly:default:x86_64:", "published busybox:nightly:tiny:x86_64:",
		"s3://images/nightly: 2 images verified",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
