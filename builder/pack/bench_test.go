package pack

// The packing benchmark: our one-pass pipeline (sorted walk → tar →
// parallel compressor → file + sha256) against the C tools on the same
// tree, in the same run, alternating. Run it with
//
//	go test -run '^$' -bench . -benchtime=1x -timeout 120m ./builder/pack
//
// (-bench 'Pack/zstd' for one algorithm). The input is the reference
// rootfs (see benchTree: built once with debootstrap and cached, as
// root), $BUILDER_BENCH_INPUT=1g for about 1.1 GiB of it, or
// $BUILDER_BENCH_ROOTFS. Each benchmark iteration makes
// $BUILDER_BENCH_ITER (default 5) rounds per algorithm, each round in
// this order:
//
//	ours      WriteCompressed(WriteTree) in this process
//	C         `tar --sort=name -c . | pigz -6` (zstd -3 -T0, xz -6 -T0;
//	          for none, `tar --sort=name -cf FILE .`)
//	command   `builder pack DIR --type unified --compression C` as a
//	          process (built once with go build): what users see
//
// BUILDER_BENCH_RSS=1 runs ours and the command only (no C tools, no
// ratios): the memory figures, without the C tools' minutes on a large
// input.
//
// and prints, per algorithm, the median, min and max over the rounds of:
//
//	wall/C          our in-process wall time ÷ the C pipeline's
//	cmd-wall/C      the command's wall time ÷ the C pipeline's
//	size/C          our file size ÷ theirs
//	RSS-MiB         our peak RSS in the pass (VmHWM, reset before it)
//	cmd-RSS-MiB     the command's peak RSS (its VmHWM, sampled)
//	C-RSS-MiB       tar's + the compressor's peak RSS (VmHWM, sampled)
//	ours-s, cmd-s, C-s   the wall times in seconds
//	wall/2pass, size/2pass, 2pass-RSS-MiB (xz only): against
//	                distrobuilder's `tar -cf x.tar` then `xz -6 -T0 x.tar`
//
// The medians are also reported as the benchmark's metrics; ns/op and
// MB/s cover all the rounds and mean little.

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/benchutil"
	"github.com/builder-images/builder/internal/testenv"
)

// benchIterations is $BUILDER_BENCH_ITER, the rounds per algorithm
// (default 5).
func benchIterations(b *testing.B) int {
	b.Helper()
	s := os.Getenv("BUILDER_BENCH_ITER")
	if s == "" {
		return 5
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("BUILDER_BENCH_ITER=%q: want a count of at least 1", s)
	}
	return n
}

func BenchmarkPack(b *testing.B) {
	if testing.Short() {
		b.Skip("packs a ~300 MiB rootfs with every algorithm, several times")
	}
	tarPath := testenv.Command(b, "tar", "tar")
	tree := benchTree(b)
	size := warmTree(b, tree)
	rounds := benchIterations(b)
	rssOnly := os.Getenv("BUILDER_BENCH_RSS") == "1"
	builder := buildBuilder(b)
	recipe, err := filepath.Abs(filepath.Join("..", "..", "recipes", "busybox.hcl"))
	if err != nil {
		b.Fatal(err)
	}
	threads := runtime.GOMAXPROCS(0)
	// As `builder pack` runs: our in-process peak is then the command's
	// minus its start-up.
	defer TuneGC(os.Environ())()
	for _, tc := range []struct {
		compression string
		tool, pkg   string
		args        []string
	}{
		{"gzip-6", "pigz", "pigz", []string{"-6", "-p", strconv.Itoa(threads)}},
		{"zstd-3", "zstd", "zstd", []string{"-3", "-T0"}},
		{"xz-6", "xz", "xz-utils", []string{"-6", "-T0"}},
		{"none", "", "", nil},
	} {
		b.Run(tc.compression, func(b *testing.B) {
			tool := ""
			if tc.tool != "" && !rssOnly {
				tool = testenv.Command(b, tc.tool, tc.pkg)
			}
			c := mustCompression(b, tc.compression)
			out := b.TempDir()
			b.SetBytes(size * int64(rounds))
			var m benchutil.Samples
			b.ResetTimer()
			for range b.N {
				for round := range rounds {
					ours := filepath.Join(out, "ours.tar"+c.Algorithm.Extension)
					debug.FreeOSMemory()
					resetPeakRSS(b)
					start := time.Now()
					info, err := WriteCompressed(context.Background(), ours, c, threads, func(w io.Writer) error {
						_, err := WriteTree(context.Background(), w, tree, TarOptions{})
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
					wall := time.Since(start)
					rss := peakRSS(b)
					os.Remove(ours)
					b.StopTimer()

					if rssOnly {
						cmdWall, cmdRSS := packCommand(b, builder, recipe, tree, tc.compression, filepath.Join(out, fmt.Sprint("cmd", round)))
						m.Add("RSS-MiB", rss)
						m.Add("cmd-RSS-MiB", cmdRSS)
						m.Add("ours-s", wall.Seconds())
						m.Add("cmd-s", cmdWall.Seconds())
						b.StartTimer()
						continue
					}

					theirs := filepath.Join(out, "c.tar"+c.Algorithm.Extension)
					cWall, cRSS := pipeline(b, tarPath, tree, tool, tc.args, theirs)
					cSize := fileSize(b, theirs)
					os.Remove(theirs)

					cmdWall, cmdRSS := packCommand(b, builder, recipe, tree, tc.compression, filepath.Join(out, fmt.Sprint("cmd", round)))

					m.Add("wall/C", wall.Seconds()/cWall.Seconds())
					m.Add("cmd-wall/C", cmdWall.Seconds()/cWall.Seconds())
					m.Add("size/C", float64(info.Size)/float64(cSize))
					m.Add("RSS-MiB", rss)
					m.Add("cmd-RSS-MiB", cmdRSS)
					m.Add("C-RSS-MiB", cRSS)
					m.Add("ours-s", wall.Seconds())
					m.Add("cmd-s", cmdWall.Seconds())
					m.Add("C-s", cWall.Seconds())

					if c.Algorithm.Name == "xz" {
						twoWall, twoSize, twoRSS := twoPass(b, tarPath, tree, tool, tc.args, filepath.Join(out, "x.tar"))
						m.Add("wall/2pass", wall.Seconds()/twoWall.Seconds())
						m.Add("size/2pass", float64(info.Size)/float64(twoSize))
						m.Add("2pass-RSS-MiB", twoRSS)
					}
					b.StartTimer()
				}
			}
			b.StopTimer()
			// On stdout: the testing package cuts a benchmark's log to 10 lines.
			against := fmt.Sprintf("vs %s %v", tc.tool, tc.args)
			switch {
			case rssOnly:
				against = "(memory only)"
			case tc.tool == "":
				against = "vs tar"
			}
			fmt.Printf("%s %s, %d rounds, %d threads, %s (%.2f GiB of file data):\n%s",
				tc.compression, against, rounds*b.N, threads, tree, float64(size)/(1<<30), m.Table())
			m.Report(b)
		})
	}
}

// buildBuilder builds cmd/builder once into a temporary directory.
func buildBuilder(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "builder")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/builder-images/builder/cmd/builder")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// packCommand runs `builder pack tree --type unified --compression c`
// into dir (removed afterwards) and returns its wall time and peak RSS
// in MiB. The peak is the child's VmHWM, sampled: its rusage maxrss
// would include this process's peak (see benchutil.WatchPeaks).
func packCommand(b *testing.B, builder, recipe, tree, compression, dir string) (time.Duration, float64) {
	b.Helper()
	defer os.RemoveAll(dir)
	cmd := exec.Command(builder, "pack", tree, "--recipe", recipe, "--type", "unified",
		"--compression", compression, "--output", dir)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1700000000")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	peak := benchutil.WatchPeaks(cmd.Process.Pid)
	err := cmd.Wait()
	wall := time.Since(start)
	rss := peak()
	if err != nil {
		b.Fatalf("%v: %v", cmd, err)
	}
	return wall, rss
}

// pipeline runs `tar -C tree --sort=name -c . | tool args > dst` (with
// no tool, tar alone writes dst) and returns its wall time and tar's
// plus the compressor's peak RSS in MiB.
func pipeline(b *testing.B, tarPath, tree, tool string, args []string, dst string) (time.Duration, float64) {
	b.Helper()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	tarCmd := exec.Command(tarPath, "-C", tree, "--sort=name", "-c", ".")
	if tool == "" {
		tarCmd.Stdout, tarCmd.Stderr = out, os.Stderr
		start := time.Now()
		if err := tarCmd.Start(); err != nil {
			b.Fatal(err)
		}
		peak := benchutil.WatchPeaks(tarCmd.Process.Pid)
		err := tarCmd.Wait()
		wall := time.Since(start)
		if err != nil {
			b.Fatalf("%v: %v", tarCmd, err)
		}
		return wall, peak()
	}
	comp := exec.Command(tool, args...)
	pipe, err := tarCmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	comp.Stdin, comp.Stdout = pipe, out
	tarCmd.Stderr, comp.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := tarCmd.Start(); err != nil {
		b.Fatal(err)
	}
	if err := comp.Start(); err != nil {
		b.Fatal(err)
	}
	peaks := benchutil.WatchPeaks(tarCmd.Process.Pid, comp.Process.Pid)
	errComp := comp.Wait()
	errTar := tarCmd.Wait()
	wall := time.Since(start)
	if errTar != nil || errComp != nil {
		b.Fatalf("tar | %s: %v, %v", tool, errTar, errComp)
	}
	return wall, peaks()
}

// twoPass is distrobuilder's method: an uncompressed tarball on disk,
// then the compressor on the file. It returns the wall time, the size of
// the result and the larger of the two steps' peak RSS in MiB.
func twoPass(b *testing.B, tarPath, tree, tool string, args []string, tarball string) (time.Duration, int64, float64) {
	b.Helper()
	start := time.Now()
	var rss float64
	for _, cmd := range []*exec.Cmd{
		exec.Command(tarPath, "--sort=name", "-cf", tarball, "-C", tree, "."),
		exec.Command(tool, append(args, tarball)...),
	} {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		peak := benchutil.WatchPeaks(cmd.Process.Pid)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("%v: %v", cmd, err)
		}
		rss = max(rss, peak())
	}
	wall := time.Since(start)
	result := tarball + ".xz"
	size := fileSize(b, result)
	os.Remove(result)
	return wall, size, rss
}

func fileSize(b *testing.B, path string) int64 {
	b.Helper()
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}

// resetPeakRSS resets this process's VmHWM to its current RSS.
func resetPeakRSS(b *testing.B) {
	b.Helper()
	if err := benchutil.ResetPeakRSS(); err != nil {
		b.Fatal(err)
	}
}

// peakRSS reads this process's VmHWM in MiB.
func peakRSS(b *testing.B) float64 {
	b.Helper()
	v, err := benchutil.PeakRSS()
	if err != nil {
		b.Fatal(err)
	}
	return v
}
