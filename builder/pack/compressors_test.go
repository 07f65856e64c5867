package pack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/builder-images/builder/internal/testenv"
)

// tools are the C programs that check each algorithm's output: LXD
// unpacks with them.
var tools = map[string]struct{ cmd, pkg string }{
	"gzip": {"gzip", "gzip"},
	"xz":   {"xz", "xz-utils"},
	"zstd": {"zstd", "zstd"},
}

func mustCompression(t testing.TB, s string) Compression {
	t.Helper()
	c, err := ParseCompression(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// compress runs data through NewCompressor in Write calls of step bytes.
func compress(t testing.TB, c Compression, threads int, data []byte, step int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewCompressor(c, &buf, threads)
	if err != nil {
		t.Fatal(err)
	}
	for len(data) > 0 {
		n := min(step, len(data))
		if _, err := w.Write(data[:n]); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decompress checks data with the C tool (-t) and returns what it
// decompresses to (-dc).
func decompress(t testing.TB, algorithm string, data []byte) []byte {
	t.Helper()
	if algorithm == "none" {
		return data
	}
	tool := testenv.Command(t, tools[algorithm].cmd, tools[algorithm].pkg)
	p := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, tool, "-t", p)
	return run(t, tool, "-dc", p)
}

// mixedData is compressible text with runs of random bytes.
func mixedData(size int) []byte {
	rng := rand.New(rand.NewPCG(7, 8))
	words := strings.Fields("usr lib share doc the of and root bin etc systemd network config x86_64 debian 0 1 2 = ; {")
	var b bytes.Buffer
	for b.Len() < size {
		if rng.IntN(10) == 0 {
			for range rng.IntN(4096) {
				b.WriteByte(byte(rng.Uint32()))
			}
			continue
		}
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte(" \n/"[rng.IntN(3)])
	}
	return b.Bytes()[:size]
}

// The output depends on the input and level only: not on the thread
// count, not on how the input was cut into Write calls. The inputs span
// several blocks or chunks so that the parallel paths really run.
func TestCompressorsDeterministic(t *testing.T) {
	for _, tc := range []struct {
		compression string
		size        int
	}{
		{"gzip-6", 5*gzipBlock + 12345},
		{"gzip-1", 3*gzipBlock + 1},
		{"zstd-3", 2*zstdChunk + 777},
		{"zstd-1", zstdChunk + 1},
		{"xz-0", 4*xzChunk(0) + 99}, // 1 MiB chunks: the chunking at a fast level
		{"none", 1 << 20},
	} {
		t.Run(tc.compression, func(t *testing.T) {
			c := mustCompression(t, tc.compression)
			data := mixedData(tc.size)
			want := compress(t, c, 1, data, 1<<20)
			for _, run := range []struct{ threads, step int }{{4, 1 << 20}, {2, 4097}, {8, 10 << 20}, {1, 65536}} {
				if got := compress(t, c, run.threads, data, run.step); !bytes.Equal(got, want) {
					t.Errorf("threads=%d writes of %d: %d bytes differ from threads=1's %d", run.threads, run.step, len(got), len(want))
				}
			}
			if got := decompress(t, c.Algorithm.Name, want); !bytes.Equal(got, data) {
				t.Errorf("decompressed %d bytes differ from the %d input bytes", len(got), len(data))
			}
		})
	}
}

// An empty input still makes a valid file of each format.
func TestCompressorsEmpty(t *testing.T) {
	for _, name := range AlgorithmNames() {
		t.Run(name, func(t *testing.T) {
			c := mustCompression(t, name)
			out := compress(t, c, 2, nil, 1)
			if got := decompress(t, name, out); len(got) != 0 {
				t.Errorf("decompressed to %d bytes", len(got))
			}
		})
	}
}

// Every algorithm in the table has a compressor, and the formats start
// with the magic bytes LXD detects them by.
func TestCompressorsRegistry(t *testing.T) {
	magic := map[string]string{"gzip": "\x1f\x8b", "xz": "\xfd7zXZ\x00", "zstd": "\x28\xb5\x2f\xfd", "none": "x"}
	for _, a := range algorithms {
		if compressorFor(a.Name) == nil {
			t.Errorf("%s: no compressor", a.Name)
			continue
		}
		out := compress(t, Compression{Algorithm: a, Level: a.DefaultLevel}, 1, []byte("x"), 1)
		if !strings.HasPrefix(string(out), magic[a.Name]) {
			t.Errorf("%s: output starts % x", a.Name, out[:min(len(out), 6)])
		}
	}
	gz := compress(t, mustCompression(t, "gzip"), 1, []byte("x"), 1)
	if mtime := gz[4:8]; !bytes.Equal(mtime, []byte{0, 0, 0, 0}) {
		t.Errorf("gzip MTIME = % x, want 0 (no time)", mtime)
	}
	bad := Compression{Algorithm: algorithms[0], Level: 42}
	if _, err := NewCompressor(bad, io.Discard, 1); err == nil {
		t.Error("gzip-42 accepted")
	}
	if _, err := NewCompressor(Compression{Algorithm: Algorithm{Name: "bzip2"}}, io.Discard, 1); err == nil {
		t.Error("an algorithm with no compressor accepted")
	}
}

// The whole pipeline with each compressor: pack a tree with
// WriteCompressed, check the file with the C tool, unpack it with GNU
// tar as LXD does, and compare the trees.
func TestCompressedTreeRoundTrip(t *testing.T) {
	bigSize := 20 << 20
	if testing.Short() {
		bigSize = 1 << 20
	}
	src := makeTree(t, t.TempDir(), treeOptions{bigSize: bigSize})
	want := snapshot(t, src)
	for _, name := range AlgorithmNames() {
		t.Run(name, func(t *testing.T) {
			c := mustCompression(t, name)
			path, info := packTree(t, src, c, 2)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			if info.Name != filepath.Base(path) || info.Size != int64(len(data)) || info.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("FileInfo %+v does not describe the %d-byte file", info, len(data))
			}
			decompress(t, name, data) // -t
			dst := extract(t, path)
			compareTrees(t, want, snapshot(t, filepath.Join(dst, "rootfs")), nil)
		})
	}
}

// The same tree packed twice, with 1 and with 4 threads, gives the same
// bytes with every compressor at its default level. (The tree's random
// file is smaller than above: pure-Go xz is slow on random data, and
// TestCompressorsDeterministic covers many chunks.)
func TestCompressedTreeDeterministic(t *testing.T) {
	src := makeTree(t, t.TempDir(), treeOptions{bigSize: 2 << 20})
	for _, name := range AlgorithmNames() {
		t.Run(name, func(t *testing.T) {
			c := mustCompression(t, name)
			_, one := packTree(t, src, c, 1)
			_, four := packTree(t, src, c, 4)
			if one.SHA256 != four.SHA256 || one.Size != four.Size {
				t.Errorf("threads=1 gave %+v, threads=4 %+v", one, four)
			}
		})
	}
}

func packTree(t testing.TB, src string, c Compression, threads int) (string, FileInfo) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "image.tar"+c.Algorithm.Extension)
	info, err := WriteCompressed(context.Background(), path, c, threads, func(w io.Writer) error {
		_, err := WriteTree(context.Background(), w, src, TarOptions{Prefix: "rootfs/"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return path, info
}
