package pack

// The packing benchmark: our one-pass pipeline (sorted walk → tar →
// parallel compressor → file + sha256) against the C tools on the same
// tree, in the same run. Run it with
//
//	go test -run '^$' -bench . -benchtime=1x -timeout 60m ./builder/pack
//
// (-bench 'Pack/zstd' for one algorithm). The tree is $BUILDER_BENCH_ROOTFS
// when set (a real rootfs; run as root if it has unreadable files),
// otherwise a ~300 MiB tree of text, binary-like and random files
// generated once and kept in $TMPDIR/builder-bench/. Each iteration is
// one pass of each pipeline; the metrics are per iteration:
//
//	wall/C        our wall time ÷ `tar --sort=name -c . | pigz -6` (zstd -3 -T0, xz -6 -T0)
//	size/C        our file size ÷ theirs
//	RSS-MiB       our peak RSS during the pass (VmHWM, reset before it)
//	C-RSS-MiB     tar's + the compressor's peak RSS (VmHWM; see benchutil.WatchPeaks)
//	C-s           the C pipeline's wall time in seconds
//	wall/2pass, size/2pass, 2pass-RSS-MiB (xz only): against
//	              distrobuilder's `tar -cf x.tar` then `xz -6 -T0 x.tar`
//
// ns/op and MB/s are our pipeline's alone.

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
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

func BenchmarkPack(b *testing.B) {
	if testing.Short() {
		b.Skip("packs a ~300 MiB tree with every algorithm")
	}
	tarPath := testenv.Command(b, "tar", "tar")
	tree := benchTree(b)
	size := warmTree(b, tree)
	threads := runtime.GOMAXPROCS(0)
	for _, tc := range []struct {
		compression string
		tool, pkg   string
		args        []string
	}{
		{"gzip-6", "pigz", "pigz", []string{"-6", "-p", strconv.Itoa(threads)}},
		{"zstd-3", "zstd", "zstd", []string{"-3", "-T0"}},
		{"xz-6", "xz", "xz-utils", []string{"-6", "-T0"}},
	} {
		b.Run(tc.compression, func(b *testing.B) {
			tool := testenv.Command(b, tc.tool, tc.pkg)
			c := mustCompression(b, tc.compression)
			out := b.TempDir()
			b.SetBytes(size)
			var m benchutil.Metrics
			b.ResetTimer()
			for range b.N {
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
				b.StopTimer()

				theirs := filepath.Join(out, "c.tar"+c.Algorithm.Extension)
				cWall, cRSS := pipeline(b, tarPath, tree, tool, tc.args, theirs)
				m.Add("wall/C", wall.Seconds()/cWall.Seconds())
				m.Add("size/C", float64(info.Size)/float64(fileSize(b, theirs)))
				m.Add("RSS-MiB", rss)
				m.Add("C-RSS-MiB", cRSS)
				m.Add("C-s", cWall.Seconds())
				os.Remove(theirs)

				if c.Algorithm.Name == "xz" {
					twoWall, twoSize, twoRSS := twoPass(b, tarPath, tree, tool, tc.args, filepath.Join(out, "x.tar"))
					m.Add("wall/2pass", wall.Seconds()/twoWall.Seconds())
					m.Add("size/2pass", float64(info.Size)/float64(twoSize))
					m.Add("2pass-RSS-MiB", twoRSS)
				}
				os.Remove(ours)
				b.StartTimer()
			}
			m.Report(b)
		})
	}
}

// pipeline runs `tar -C tree --sort=name -c . | tool args > dst` and
// returns its wall time and tar's plus the compressor's peak RSS in MiB.
func pipeline(b *testing.B, tarPath, tree, tool string, args []string, dst string) (time.Duration, float64) {
	b.Helper()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	tarCmd := exec.Command(tarPath, "-C", tree, "--sort=name", "-c", ".")
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

// warmTree reads every file once, so that both pipelines start from the
// page cache, and returns the bytes of file data in the tree.
func warmTree(b *testing.B, tree string) int64 {
	b.Helper()
	var total int64
	err := filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := io.Copy(io.Discard, f)
		total += n
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return total
}

// benchTree returns $BUILDER_BENCH_ROOTFS, or the generated tree, making
// it on first use.
func benchTree(b *testing.B) string {
	b.Helper()
	if tree := os.Getenv("BUILDER_BENCH_ROOTFS"); tree != "" {
		return tree
	}
	const version = "tree-v1"
	base := filepath.Join(os.TempDir(), "builder-bench")
	tree := filepath.Join(base, version)
	if _, err := os.Stat(tree + ".complete"); err == nil {
		return tree
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		b.Fatal(err)
	}
	tmp, err := os.MkdirTemp(base, version+".tmp-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	if err := generateTree(tmp, 300<<20); err != nil {
		b.Fatal(err)
	}
	os.RemoveAll(tree) // an incomplete tree left by a killed run
	if err := os.Rename(tmp, tree); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(tree+".complete", nil, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %s in %v", tree, time.Since(start).Round(time.Second))
	return tree
}

// generateTree writes about size bytes of files shaped like a rootfs:
// many small text files (docs, configs, scripts), binary-like files
// (repetitive structures, zero padding, strings) and already-compressed
// files (random bytes), with some symlinks and hard links.
func generateTree(dir string, size int64) error {
	rng := rand.New(rand.NewPCG(2024, 6))
	vocab := make([]string, 4000)
	for i := range vocab {
		w := make([]byte, 2+rng.IntN(9))
		for k := range w {
			w[k] = "etaoinshrdlucmfwypvbgkqjxz_-./0123"[min(rng.IntN(34), rng.IntN(34))]
		}
		vocab[i] = string(w)
	}
	zipf := rand.NewZipf(rng, 1.2, 2, uint64(len(vocab)-1))
	text := func(n int) []byte {
		buf := make([]byte, 0, n+64)
		for len(buf) < n {
			for range 3 + rng.IntN(12) {
				buf = append(buf, vocab[zipf.Uint64()]...)
				buf = append(buf, ' ')
			}
			if rng.IntN(4) == 0 {
				buf = append(buf, "= "...)
				buf = strconv.AppendInt(buf, int64(rng.IntN(100000)), 10)
			}
			buf = append(buf, '\n')
		}
		return buf[:n]
	}
	binary := func(n int) []byte {
		buf := make([]byte, 0, n+4096)
		records := make([][]byte, 64)
		for i := range records {
			records[i] = make([]byte, 8+rng.IntN(24))
			for k := range records[i] {
				records[i][k] = byte(rng.IntN(16) * rng.IntN(16))
			}
		}
		for len(buf) < n {
			switch rng.IntN(6) {
			case 0:
				buf = append(buf, make([]byte, rng.IntN(2048))...)
			case 1:
				buf = append(buf, text(rng.IntN(512))...)
			default:
				for range 1 + rng.IntN(64) {
					buf = append(buf, records[rng.IntN(len(records))]...)
					buf = append(buf, byte(rng.Uint32()), byte(rng.Uint32()))
				}
			}
		}
		return buf[:n]
	}
	random := func(n int) []byte {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		return buf
	}

	var written int64
	for pkg := 0; written < size; pkg++ {
		name := fmt.Sprintf("pkg%04d", pkg)
		dirs := []string{"usr/share/doc/" + name, "usr/lib/" + name, "etc/" + name, "usr/share/" + name + "/data"}
		for _, d := range dirs {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				return err
			}
		}
		for f := range 8 + rng.IntN(24) {
			var data []byte
			var d string
			switch k := rng.IntN(100); {
			case k < 60:
				// sizes from ~100 B to ~64 KiB, most of them small
				data, d = text(64<<uint(rng.IntN(11))+rng.IntN(512)), dirs[rng.IntN(2)*2]
			case k < 88:
				data, d = binary(1024<<uint(rng.IntN(9))), dirs[1]
			default:
				data, d = random(1024<<uint(rng.IntN(8))), dirs[3]
			}
			p := filepath.Join(dir, d, fmt.Sprintf("file%03d", f))
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return err
			}
			written += int64(len(data))
			switch rng.IntN(20) {
			case 0:
				if err := os.Symlink(filepath.Base(p), p+".link"); err != nil {
					return err
				}
			case 1:
				if err := os.Link(p, p+".hard"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
