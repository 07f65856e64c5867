package isolation

import (
	"os"
	"testing"
)

// TestMain lets the test binary be the sandbox helper too, as builder's
// main does: tests and benchmarks here run commands in the sandbox.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == SandboxArg {
		os.Exit(SandboxMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}
