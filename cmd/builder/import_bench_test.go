package main

// The import benchmark: `builder import` against `lxc image import` of the
// same split image into the same real LXD daemon, in the same run. Run it
// as root with a daemon up (ci/start-lxd.sh):
//
//	go test -run '^$' -bench Import -benchtime=3x ./cmd/builder
//
// The image is the busybox recipe plus 96 MiB of incompressible data, as
// zstd metadata and squashfs rootfs, so the upload and the daemon's
// unpacking dominate. Each iteration deletes the image, imports it with
// builder, deletes it, imports it with lxc. Metrics per iteration:
//
//	wall/lxc      builder's wall time ÷ lxc's
//	RSS-MiB       builder's peak RSS (VmHWM)
//	lxc-RSS-MiB   lxc's peak RSS
//	lxc-s         lxc's wall time in seconds
//	noop-s        builder's second import of an image already present

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/benchutil"
)

func BenchmarkImport(b *testing.B) {
	if testing.Short() {
		b.Skip("imports a 100 MiB image into LXD")
	}
	requireRoot(b)
	requireBusybox(b)
	requireLXD(b)
	tmp := b.TempDir()
	rootfs := filepath.Join(tmp, "rootfs")
	runBuilder(b, nil, "rootfs", "recipes/busybox.hcl", rootfs)
	f, err := os.Create(filepath.Join(rootfs, "opt-random"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, 96<<20); err != nil {
		b.Fatal(err)
	}
	f.Close()
	out := filepath.Join(tmp, "out")
	runBuilder(b, nil, "pack", rootfs, "--recipe", "recipes/busybox.hcl", "--type", "split", "--compression", "zstd", "-o", out)
	j := readImageJSON(b, out)
	size := int64(0)
	var files []string
	for _, f := range j.Files {
		size += f.Size
		files = append(files, filepath.Join(out, f.Name))
	}
	alias := "builder-bench-import-" + uniqueSuffix()
	remove := func() { _ = exec.Command("lxc", "image", "delete", j.Fingerprint).Run() }
	remove()
	b.Cleanup(remove)

	var m benchutil.Metrics
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		wall, rss := timeCommand(b, builderBinary(b), "import", out, "--alias", alias)
		b.StopTimer()
		noop, _ := timeCommand(b, builderBinary(b), "import", out, "--alias", alias)
		remove()
		lxcWall, lxcRSS := timeCommand(b, "lxc", append(append([]string{"image", "import"}, files...), "--alias", alias)...)
		remove()
		m.Add("wall/lxc", wall.Seconds()/lxcWall.Seconds())
		m.Add("RSS-MiB", rss)
		m.Add("lxc-RSS-MiB", lxcRSS)
		m.Add("lxc-s", lxcWall.Seconds())
		m.Add("noop-s", noop.Seconds())
		b.StartTimer()
	}
	m.Report(b)
}

// timeCommand runs a command to success and returns its wall time and
// peak RSS in MiB.
func timeCommand(b *testing.B, name string, args ...string) (time.Duration, float64) {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = filepath.Join("..", "..")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	peak := benchutil.WatchPeaks(cmd.Process.Pid)
	err := cmd.Wait()
	wall := time.Since(start)
	rss := peak()
	if err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
	}
	return wall, rss
}
