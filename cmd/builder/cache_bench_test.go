package main

// The stage cache benchmarks, as root with network access to the Debian
// archive and, for the second, a running LXD daemon:
//
//	go test -run '^$' -bench 'Build' -benchtime=1x -timeout 60m ./cmd/builder
//
// BenchmarkBuildWarm builds recipes/debian.hcl with an empty cache
// (cold), then again with no change (warm). Metrics per iteration:
//
//	warm/cold     the warm build's wall time ÷ the cold one's (target ≤ 0.2)
//	cold-s        the cold build in seconds
//	warm-s        the warm build in seconds
//	RSS-MiB       builder's peak RSS in the cold build (the parent; the
//	              isolated child and the tools it runs are not included)
//
// BenchmarkBuildByHand builds testdata/bench/debian-mmdebstrap.hcl with
// an empty cache and --import (mmdebstrap, a split image with a gzip
// rootfs tarball), against testdata/bench/by-hand.sh doing the same by
// hand: debootstrap, apt-get in a chroot, tar | pigz, lxc image import.
//
//	ours/by-hand  our wall time ÷ the script's (target ≤ 0.6)
//	ours-s, by-hand-s

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/builder-images/builder/internal/benchutil"
	"github.com/builder-images/builder/internal/testenv"
)

func BenchmarkBuildWarm(b *testing.B) {
	if testing.Short() {
		b.Skip("debootstraps Debian")
	}
	requireRoot(b)
	testenv.Command(b, "debootstrap", "debootstrap")
	var m benchutil.Metrics
	for range b.N {
		tmp := b.TempDir()
		args := []string{"build", "recipes/debian.hcl", "-o", filepath.Join(tmp, "out"), "--cache-dir", filepath.Join(tmp, "cache"), "--quiet"}
		cold, rss := timeCommand(b, builderBinary(b), args...)
		warm, _ := timeCommand(b, builderBinary(b), args...)
		m.Add("warm/cold", warm.Seconds()/cold.Seconds())
		m.Add("cold-s", cold.Seconds())
		m.Add("warm-s", warm.Seconds())
		m.Add("RSS-MiB", rss)
	}
	m.Report(b)
}

func BenchmarkBuildByHand(b *testing.B) {
	if testing.Short() {
		b.Skip("bootstraps Debian twice")
	}
	requireRoot(b)
	requireLXD(b)
	testenv.Command(b, "mmdebstrap", "mmdebstrap")
	testenv.Command(b, "debootstrap", "debootstrap")
	testenv.Command(b, "pigz", "pigz")
	var m benchutil.Metrics
	for range b.N {
		tmp := b.TempDir()
		ours := "builder-bench-ours-" + uniqueSuffix()
		theirs := "builder-bench-by-hand-" + uniqueSuffix()
		b.Cleanup(func() {
			_ = exec.Command("lxc", "image", "delete", ours).Run()
			_ = exec.Command("lxc", "image", "delete", theirs).Run()
		})
		oursWall, _ := timeCommand(b, builderBinary(b), "build", "cmd/builder/testdata/bench/debian-mmdebstrap.hcl",
			"-o", filepath.Join(tmp, "out"), "--cache-dir", filepath.Join(tmp, "cache"), "--quiet", "--import="+ours)
		handWall, _ := timeCommand(b, "cmd/builder/testdata/bench/by-hand.sh", filepath.Join(tmp, "by-hand"), theirs)
		m.Add("ours/by-hand", oursWall.Seconds()/handWall.Seconds())
		m.Add("ours-s", oursWall.Seconds())
		m.Add("by-hand-s", handWall.Seconds())
	}
	m.Report(b)
}
