// Package testenv decides what a test does when the machine lacks
// something it needs: skip with the reason, or, when BUILDER_TEST_REQUIRE=1
// (as .ci/run sets), fail, so that CI cannot pass by skipping.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Required reports whether missing requirements fail tests.
func Required() bool { return os.Getenv("BUILDER_TEST_REQUIRE") == "1" }

// Need skips or fails t with reason unless ok.
func Need(t testing.TB, ok bool, reason string) {
	t.Helper()
	if ok {
		return
	}
	if Required() {
		t.Fatalf("%s, and BUILDER_TEST_REQUIRE=1 is set", reason)
	}
	t.Skip(reason)
}

// Root needs the test to run as root.
func Root(t testing.TB) {
	t.Helper()
	Need(t, os.Geteuid() == 0, "needs root")
}

// File needs a file on the machine; pkg names the Debian package.
func File(t testing.TB, path, pkg string) {
	t.Helper()
	_, err := os.Stat(path)
	Need(t, err == nil, "needs "+path+" (apt-get install "+pkg+")")
}

// Command needs a command on PATH and returns its path.
func Command(t testing.TB, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	Need(t, err == nil, "needs "+name+" (apt-get install "+pkg+")")
	return path
}
