package pack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Peak memory must not grow with the tree (issue 19: ≤ 256 MiB from a
// 0.3 to a 1 GiB rootfs, docs/benchmarks.md). These tests check the two
// parts of the pipeline that could make it grow, on small inputs: what
// the walk keeps per entry, and whether the chunk writer reuses its
// buffers. BenchmarkPack measures the whole with BUILDER_BENCH_INPUT=1g.

// heapProbe is a tar destination that, every every-th Write, collects
// and records the live heap: the walk is in progress, so whatever it
// keeps per entry is live then.
type heapProbe struct {
	every, writes int
	maxLive       uint64
}

func (p *heapProbe) Write(b []byte) (int, error) {
	p.writes++
	if p.writes%p.every == 0 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		p.maxLive = max(p.maxLive, ms.HeapAlloc)
	}
	return len(b), nil
}

// memTree makes 8 directories of fanout subdirectories of 8 small files
// each: the listings stay short, so only what the walk keeps per entry
// can grow with fanout.
func memTree(t *testing.T, fanout int) (dir string, entries int) {
	t.Helper()
	dir = t.TempDir()
	data := make([]byte, 700)
	for i := range 8 {
		for j := range fanout {
			sub := filepath.Join(dir, fmt.Sprintf("d%d", i), fmt.Sprintf("s%03d", j))
			if err := os.MkdirAll(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			for k := range 8 {
				data[0] = byte(k)
				if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d", k)), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return dir, 1 + 8 + 8*fanout*9
}

// walkMemory archives tree and returns the largest live heap seen during
// the walk and the bytes allocated per entry.
func walkMemory(t *testing.T, tree string, entries int) (maxLive uint64, perEntry float64) {
	t.Helper()
	probe := &heapProbe{every: 64}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := WriteTree(context.Background(), probe, tree, TarOptions{Prefix: "rootfs/"}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// The probe's own collections allocate nothing; what was allocated
	// is the walk's, headers and names included.
	return probe.maxLive, float64(after.TotalAlloc-before.TotalAlloc) / float64(entries)
}

func TestWriteTreeMemoryFlat(t *testing.T) {
	small, nSmall := memTree(t, 2)
	big, nBig := memTree(t, 24)
	walkMemory(t, small, nSmall) // the first walk's one-time allocations (buffers, pools)
	liveSmall, perSmall := walkMemory(t, small, nSmall)
	liveBig, perBig := walkMemory(t, big, nBig)
	t.Logf("%d entries: live heap %d B, %.0f B allocated an entry; %d entries: %d B, %.0f B an entry",
		nSmall, liveSmall, perSmall, nBig, liveBig, perBig)
	// 8 bytes an extra entry would be a pointer kept for each; the 32 KiB
	// is the runtime's granularity (spans of 8 KiB and more) and the
	// longer directory listings.
	if grow := int64(liveBig) - int64(liveSmall); grow > 32<<10+int64(8*(nBig-nSmall)) {
		t.Errorf("the live heap during the walk grew by %d B from %d to %d entries: something is kept per entry", grow, nSmall, nBig)
	}
	// Garbage per entry sets how often the collector runs, not the peak
	// (see GCPercent); this bound catches a buffer allocated per file.
	if perBig > 4096 {
		t.Errorf("%.0f B allocated an archived entry, want at most 4096", perBig)
	}
}

// TestChunkWriterReusesBuffers: after the first few chunks, the chunk
// writer compresses from and into buffers it already has, so ten times
// the input allocates no more chunk-sized buffers.
func TestChunkWriterReusesBuffers(t *testing.T) {
	const size = 64 << 10
	copyChunk := func(dst, src []byte, _ <-chan struct{}) ([]byte, error) { return append(dst, src...), nil }
	input := make([]byte, 24<<10) // Writes that do not align with chunks
	allocated := func(chunks int) uint64 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c := newChunkWriter(io.Discard, size, size, 2, copyChunk)
		for n := 0; n < chunks*size; n += len(input) {
			if _, err := c.Write(input); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	few, many := allocated(20), allocated(200)
	t.Logf("20 chunks: %d B allocated; 200 chunks: %d B", few, many)
	// Per chunk, only its job (a small struct and a channel) is new.
	if perChunk := float64(many-few) / 180; perChunk > 1024 {
		t.Errorf("%.0f B allocated per extra chunk of %d B: chunk buffers are not reused", perChunk, size)
	}
}

// TestChunkWriterLimitInputs: with limitInputs(workers+1), a fast filler
// and slow workers make no more input buffers than that, and the output
// is the same.
func TestChunkWriterLimitInputs(t *testing.T) {
	const size, workers = 4 << 10, 2
	slowCopy := func(dst, src []byte, _ <-chan struct{}) ([]byte, error) {
		time.Sleep(time.Millisecond)
		return append(dst, src...), nil
	}
	input := make([]byte, 50*size+123)
	for i := range input {
		input[i] = byte(i * 7)
	}
	var out bytes.Buffer
	c := newChunkWriter(&out, size, size, workers, slowCopy)
	c.limitInputs(workers + 1)
	for p := input; len(p) > 0; p = p[min(len(p), 1000):] {
		if _, err := c.Write(p[:min(len(p), 1000)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c.made > workers+1 {
		t.Errorf("%d input buffers made, want at most %d", c.made, workers+1)
	}
	if !bytes.Equal(out.Bytes(), input) {
		t.Errorf("output differs from the input (%d bytes, want %d)", out.Len(), len(input))
	}
}

// TestChunkWriterReleasesOutputPages: an output buffer comes back for
// reuse with its written pages returned to the kernel (they read as
// zeros again), so RSS holds what chunks in flight compress to, not the
// largest output each buffer ever held; Close unmaps every buffer.
func TestChunkWriterReleasesOutputPages(t *testing.T) {
	const size = 256 << 10
	copyChunk := func(dst, src []byte, _ <-chan struct{}) ([]byte, error) { return append(dst, src...), nil }
	c := newChunkWriter(io.Discard, size, size, 1, copyChunk)
	if _, err := c.Write(bytes.Repeat([]byte{0xff}, 2*size)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.outMu.Lock()
		n := len(c.outs)
		c.outMu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no output buffer came back for reuse")
		}
		time.Sleep(time.Millisecond)
	}
	b := c.outBuf()
	c.outMu.Lock()
	mapped := c.isMapped(b)
	c.outMu.Unlock()
	if !mapped {
		t.Fatal("the reused output buffer is not one of the mappings")
	}
	if i := bytes.IndexByte(b[:size], 0xff); i >= 0 {
		t.Fatalf("byte %d of a reused output buffer still holds the last chunk's output: its pages were not released", i)
	}
	c.recycle(b)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if len(c.mapped) != 0 {
		t.Errorf("%d output buffers still mapped after Close", len(c.mapped))
	}
}
