package pack

// The squashfs benchmark: WriteSquashfs (builder's mksquashfs invocation,
// then sha256, fsync and rename) against distrobuilder's
// `mksquashfs DIR OUT -noappend -comp xz -b 1M` on the same tree, in the
// same run, alternating, ours first. Run it with
//
//	go test -run '^$' -bench Squashfs -benchtime=1x -timeout 60m ./builder/pack
//
// on the input BenchmarkPack uses (the reference rootfs, see benchTree),
// $BUILDER_BENCH_ITER rounds (default 5). It prints the median, min and
// max over the rounds of wall/C, cpu/C (user + system time: what a loaded
// machine's noise moves least), size/C, RSS-MiB (our mksquashfs's peak
// plus this process's, VmHWM), C-RSS-MiB (theirs) and the wall times.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/benchutil"
	"github.com/builder-images/builder/internal/testenv"
)

func BenchmarkSquashfs(b *testing.B) {
	if testing.Short() {
		b.Skip("runs mksquashfs on a ~300 MiB rootfs several times")
	}
	mksquashfs := testenv.Command(b, "mksquashfs", "squashfs-tools")
	tree := benchTree(b)
	size := warmTree(b, tree)
	rounds := benchIterations(b)
	epoch := time.Unix(1700000000, 0)
	c := mustCompression(b, "xz-6")
	out := b.TempDir()
	b.SetBytes(size * int64(rounds))
	var m benchutil.Samples
	b.ResetTimer()
	for range b.N {
		for range rounds {
			ours := filepath.Join(out, "ours.squashfs")
			resetPeakRSS(b)
			peak := benchutil.WatchChildren()
			cpu0 := childrenCPU(b)
			start := time.Now()
			info, err := WriteSquashfs(context.Background(), tree, ours, SquashfsOptions{Compression: c, Epoch: &epoch})
			wall := time.Since(start)
			rss := peak() + peakRSS(b)
			cpu := childrenCPU(b) - cpu0
			if err != nil {
				b.Fatal(err)
			}
			os.Remove(ours)
			b.StopTimer()

			theirs := filepath.Join(out, "theirs.squashfs")
			cmd := exec.Command(mksquashfs, tree, theirs, "-noappend", "-comp", "xz", "-b", "1M")
			start = time.Now()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			cPeak := benchutil.WatchPeaks(cmd.Process.Pid)
			err = cmd.Wait()
			cWall := time.Since(start)
			cRSS := cPeak()
			if err != nil {
				b.Fatalf("%v: %v", cmd, err)
			}
			cCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			cSize := fileSize(b, theirs)
			os.Remove(theirs)

			m.Add("wall/C", wall.Seconds()/cWall.Seconds())
			m.Add("cpu/C", cpu.Seconds()/cCPU.Seconds())
			m.Add("size/C", float64(info.Size)/float64(cSize))
			m.Add("RSS-MiB", rss)
			m.Add("C-RSS-MiB", cRSS)
			m.Add("ours-s", wall.Seconds())
			m.Add("C-s", cWall.Seconds())
			m.Add("C-cpu-s", cCPU.Seconds())
			b.StartTimer()
		}
	}
	b.StopTimer()
	fmt.Printf("squashfs %v vs mksquashfs -noappend -comp xz -b 1M, %d rounds, %d CPUs, %s:\n%s",
		squashfsArgs(c), rounds*b.N, runtime.NumCPU(), tree, m.Table())
	m.Report(b)
}

// childrenCPU is the user + system time of this process's waited-for
// children so far (WriteSquashfs's mksquashfs among them).
func childrenCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
