package pack

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// The acceptance test: the same tree packed with GOMAXPROCS=1
// and with GOMAXPROCS=2 gives the same bytes with every compressor. The
// pack runs in a child process (this test binary again, running
// TestPackGOMAXPROCSChild) with GOMAXPROCS in its environment, so the
// runtime setting itself differs, not only the threads argument; the
// child passes threads 0, as `builder pack` does by default, so its
// worker count follows GOMAXPROCS.
//
// The trees (3.5 to 30 MiB, mostly text or zeros so that they pack fast)
// have files crossing the chunk boundaries of every compressor: gzip's 1
// MiB blocks, xz-0's 1 MiB and xz-1's 3 MiB chunks, zstd's 16 MiB frames
// and, at the default level, xz-6's 24 MiB chunks.
func TestPackGOMAXPROCS(t *testing.T) {
	if testing.Short() {
		t.Skip("packs a 30 MiB tree in 14 child processes")
	}
	// Each compressor packs the smallest tree that crosses its chunks:
	// the pure-Go xz encoder is the slow one, and xz-6's optimal parser
	// spends seconds per MiB of text, little on runs of zeros.
	small := gomaxprocsTree(t, t.TempDir(), 7<<19, 0)
	big := gomaxprocsTree(t, t.TempDir(), 7<<19, 26<<20)
	sparse := gomaxprocsTree(t, t.TempDir(), 0, 26<<20)
	for _, tc := range []struct {
		compression string
		src         string
		over        int // a chunk the tar stream must cross
	}{
		{"gzip-6", big, gzipBlock},
		{"zstd-3", big, zstdChunk},
		{"zstd-1", big, zstdChunk},
		{"xz-0", small, xzChunk(0)},
		{"xz-1", small, xzChunk(1)},
		{"xz-6", sparse, xzChunk(6)},
		{"none", big, 0},
	} {
		t.Run(tc.compression, func(t *testing.T) {
			t.Parallel()
			one := packInChild(t, tc.src, tc.compression, 1)
			two := packInChild(t, tc.src, tc.compression, 2)
			if !bytes.Equal(one, two) {
				t.Errorf("GOMAXPROCS=1 gave %d bytes, GOMAXPROCS=2 %d bytes that differ", len(one), len(two))
			}
			if tar := treeTarSize(t, tc.src); tar <= int64(tc.over) {
				t.Errorf("the tree is %d bytes as tar, not over the %d-byte chunk", tar, tc.over)
			}
		})
	}
}

// treeTarSize is the size of the tree's uncompressed archive.
func treeTarSize(t *testing.T, src string) int64 {
	t.Helper()
	var n countWriter
	if _, err := WriteTree(context.Background(), &n, src, TarOptions{Prefix: "rootfs/"}); err != nil {
		t.Fatal(err)
	}
	return int64(n)
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// Environment of the child: the tree, the output file, the compression
// and the GOMAXPROCS it must see.
const (
	childTree        = "BUILDER_TEST_PACK_TREE"
	childOut         = "BUILDER_TEST_PACK_OUT"
	childCompression = "BUILDER_TEST_PACK_COMPRESSION"
	childProcs       = "BUILDER_TEST_PACK_GOMAXPROCS"
)

// packInChild packs src in a child process run with GOMAXPROCS=procs
// and returns the file's bytes.
func packInChild(t *testing.T, src, compression string, procs int) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "image")
	cmd := exec.Command(os.Args[0], "-test.run=^TestPackGOMAXPROCSChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(),
		"GOMAXPROCS="+strconv.Itoa(procs),
		childTree+"="+src, childOut+"="+out,
		childCompression+"="+compression, childProcs+"="+strconv.Itoa(procs))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("packing with GOMAXPROCS=%d: %v\n%s", procs, err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestPackGOMAXPROCSChild is the child of TestPackGOMAXPROCS; it does
// nothing unless run by it.
func TestPackGOMAXPROCSChild(t *testing.T) {
	src := os.Getenv(childTree)
	if src == "" {
		t.Skip("run by TestPackGOMAXPROCS")
	}
	if want := os.Getenv(childProcs); strconv.Itoa(runtime.GOMAXPROCS(0)) != want {
		t.Fatalf("GOMAXPROCS is %d, want %s: the environment did not reach the runtime", runtime.GOMAXPROCS(0), want)
	}
	c := mustCompression(t, os.Getenv(childCompression))
	_, err := WriteCompressed(context.Background(), os.Getenv(childOut), c, 0, func(w io.Writer) error {
		_, err := WriteTree(context.Background(), w, src, TarOptions{Prefix: "rootfs/"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// gomaxprocsTree is makeTree's tree (every kind of entry) plus, when
// textSize is not 0, that many bytes of text in files of 1-600 KiB and,
// when bigSize is not 0, a file of bigSize bytes: zeros with 16 KiB of
// text every 2 MiB, so that every chunk holds real sequences but costs
// the xz encoder little.
func gomaxprocsTree(t *testing.T, dir string, textSize, bigSize int) string {
	t.Helper()
	makeTree(t, dir, treeOptions{bigSize: 64 << 10})
	text := filepath.Join(dir, "usr", "share", "text")
	if err := os.MkdirAll(text, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	data := wordData(rng, textSize)
	for i := 0; len(data) > 0; i++ {
		n := min(len(data), 1<<10+rng.IntN(600<<10))
		if err := os.WriteFile(filepath.Join(text, strconv.Itoa(i)), data[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
	}
	if bigSize == 0 {
		return dir
	}
	big := make([]byte, bigSize)
	for off := 0; off < len(big); off += 2 << 20 {
		copy(big[off:], wordData(rng, 16<<10))
	}
	if err := os.WriteFile(filepath.Join(dir, "var.img"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// wordData is size bytes of lines of words from a vocabulary of 500,
// about 3:1 compressible, like the text in a rootfs.
func wordData(rng *rand.Rand, size int) []byte {
	vocabulary := make([]string, 500)
	for i := range vocabulary {
		w := make([]byte, 2+rng.IntN(9))
		for k := range w {
			w[k] = byte('a' + rng.IntN(26))
		}
		vocabulary[i] = string(w)
	}
	var b bytes.Buffer
	for b.Len() < size {
		// Zipf-like: low indices are the common words.
		b.WriteString(vocabulary[rng.IntN(1+rng.IntN(len(vocabulary)))])
		if rng.IntN(10) == 0 {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:size]
}
