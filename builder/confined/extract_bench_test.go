package confined

// BenchmarkExtract measures tarball extraction against GNU tar, in the
// same run, on the same archive (as root, both keeping owners):
//
//	go test -run '^$' -bench Extract -benchtime 3x ./builder/confined
//	BUILDER_BENCH_ROOTFS=/path/to/rootfs go test …   # a real rootfs
//
// Archives, made once per run with GNU tar:
//
//	sparse  a 1 GiB file with 3 pieces of data, --sparse, PAX, xz (≈10 KB)
//	tree    $BUILDER_BENCH_ROOTFS, or ≈100 MiB of generated files, gzip
//
// Metrics:
//
//	ours-s, tar-s        wall time of one extraction
//	ours/tar             the ratio: below 1 is faster than GNU tar
//	ours-RSS-MiB         this process's peak RSS (VmHWM, reset before)
//	tar-RSS-MiB          tar's and its decompressor's peak RSS
//	ours-disk-MiB, tar-disk-MiB   what the extracted tree takes on disk
//	dense-s, dense-disk-MiB (sparse only): the same stream written with
//	                     io.Copy, as builder did before it kept holes

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/internal/benchutil"
	"github.com/builder-images/builder/internal/testenv"
)

func BenchmarkExtract(b *testing.B) {
	testenv.Root(b)
	tarBin := testenv.Command(b, "tar", "tar")
	work := b.TempDir()

	sparseDir := filepath.Join(work, "sparse-src")
	if err := os.Mkdir(sparseDir, 0o755); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(filepath.Join(sparseDir, "big.img"))
	if err != nil {
		b.Fatal(err)
	}
	for _, off := range []int64{0, 512 << 20, 1<<30 - 5} {
		if _, err := f.WriteAt([]byte("data!"), off); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	tree := os.Getenv("BUILDER_BENCH_ROOTFS")
	if tree == "" {
		tree = filepath.Join(work, "tree-src")
		generateExtractTree(b, tree)
	}
	archives := map[string]string{"sparse": filepath.Join(work, "sparse.tar.xz"), "tree": filepath.Join(work, "tree.tar.gz")}
	for name, args := range map[string][]string{
		"sparse": {"-C", sparseDir, "--sparse", "--format=pax", "-cJf", archives["sparse"], "."},
		"tree":   {"-C", tree, "--numeric-owner", "-czf", archives["tree"], "."},
	} {
		if out, err := exec.Command(tarBin, args...).CombinedOutput(); err != nil {
			b.Fatalf("making the %s archive: %v\n%s", name, err, out)
		}
	}

	for _, name := range []string{"sparse", "tree"} {
		archive := archives[name]
		b.Run(name, func(b *testing.B) {
			var m benchutil.Metrics
			for i := range b.N {
				ours := filepath.Join(work, fmt.Sprintf("ours-%s-%d", name, i))
				if err := os.Mkdir(ours, 0o755); err != nil {
					b.Fatal(err)
				}
				if err := benchutil.ResetPeakRSS(); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := ExtractArchive(context.Background(), archive, ours, 0); err != nil {
					b.Fatal(err)
				}
				o := time.Since(start).Seconds()
				rss, err := benchutil.PeakRSS()
				if err != nil {
					b.Fatal(err)
				}

				theirs := filepath.Join(work, fmt.Sprintf("tar-%s-%d", name, i))
				if err := os.Mkdir(theirs, 0o755); err != nil {
					b.Fatal(err)
				}
				cmd := exec.Command(tarBin, "-C", theirs, "--numeric-owner", "-xf", archive)
				start = time.Now()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				peak := benchutil.WatchPeaks(cmd.Process.Pid)
				if err := cmd.Wait(); err != nil {
					b.Fatalf("%v: %v", cmd, err)
				}
				t := time.Since(start).Seconds()
				m.Add("ours-s", o)
				m.Add("tar-s", t)
				m.Add("ours/tar", o/t)
				m.Add("ours-RSS-MiB", rss)
				m.Add("tar-RSS-MiB", peak())
				m.Add("ours-disk-MiB", diskUsage(b, ours))
				m.Add("tar-disk-MiB", diskUsage(b, theirs))
				if name == "sparse" {
					dense := filepath.Join(work, fmt.Sprintf("dense-%d", i))
					start = time.Now()
					extractDense(b, archive, dense)
					m.Add("dense-s", time.Since(start).Seconds())
					m.Add("dense-disk-MiB", diskUsage(b, dense))
					removeAll(b, dense)
				}
				removeAll(b, ours)
				removeAll(b, theirs)
			}
			m.Report(b)
		})
	}
}

// extractDense writes the archive's regular files with io.Copy, holes
// as zeros, as ExtractTar did before it kept holes.
func extractDense(b *testing.B, archive, dir string) {
	b.Helper()
	a, err := OpenArchive(archive)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	tr := tar.NewReader(a)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			b.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeGNUSparse {
			continue
		}
		f, err := os.Create(filepath.Join(dir, filepath.Base(hdr.Name)))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(f, tr); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// diskUsage is what the tree at dir takes on disk, in MiB.
func diskUsage(b *testing.B, dir string) float64 {
	b.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		total += st.Blocks * 512
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return float64(total) / (1 << 20)
}

func removeAll(b *testing.B, dir string) {
	b.Helper()
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
}

// generateExtractTree writes about 100 MiB in 3,000 files: text, runs of
// zeros inside data (as in binaries), and random bytes.
func generateExtractTree(b *testing.B, dir string) {
	b.Helper()
	random := make([]byte, 256<<10)
	if _, err := rand.Read(random); err != nil {
		b.Fatal(err)
	}
	text := []byte("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n")
	for i := range 3000 {
		sub := filepath.Join(dir, fmt.Sprintf("d%02d", i%50))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		var body []byte
		switch i % 3 {
		case 0:
			for len(body) < (i%40+1)*1024 {
				body = append(body, text...)
			}
		case 1:
			body = append(append(append(body, random[:8<<10]...), make([]byte, 16<<10)...), random[8<<10:(i%64+9)<<10]...)
		default:
			body = random[:(i%100+1)<<10]
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%04d", i)), body, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}
