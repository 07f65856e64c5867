package main

import (
	"os"
	"sync"
	"testing"
)

// debianCacheState is the stage cache the tests that build
// recipes/debian.hcl share (debianCache), made on first use and removed
// by TestMain.
var debianCacheState struct {
	once sync.Once
	dir  string
	err  error
}

// debianCache is a stage cache (--cache-dir) for the tests that build
// recipes/debian.hcl, private to this test run: each such build took
// 2 to 6 minutes of the suite's 30, most of it the same debootstrap and
// the same packages step. The first build (TestEndToEndDebian's, whose
// file sorts first) runs them; the others
// restore them from its snapshots, as a user's second build does
// (`==> cache: bootstrap hit`), and run only their own steps on top:
// the cloud variant its cloud-init step, the vm output its kernel and
// boot chain (restored from the container's stage through the
// packages-shared point). What those tests check is the image, not
// that debootstrap runs again: TestRootfsDebian and the first build
// here run it, the cache tests check that a restored stage is the one
// stored, and imagetest/qemu builds the vm output without this cache.
func debianCache(t testing.TB) string {
	t.Helper()
	s := &debianCacheState
	s.once.Do(func() { s.dir, s.err = os.MkdirTemp("", "builder-test-debian-cache-") })
	if s.err != nil {
		t.Fatalf("the Debian tests' stage cache: %v", s.err)
	}
	return s.dir
}

// removeDebianCache removes debianCache's directory, when one was made.
func removeDebianCache() {
	if dir := debianCacheState.dir; dir != "" {
		os.RemoveAll(dir)
	}
}
