package xz

import (
	"os"
	"strconv"
	"testing"
)

// BenchmarkEncode compresses one benchmark sample (BUILDER_XZ_SAMPLE,
// default /work/bench/chunk0.bin) as one block at BUILDER_XZ_LEVEL
// (default 6), reporting the output size; compare with `xz -6 -T1`.
func BenchmarkEncode(b *testing.B) {
	path := os.Getenv("BUILDER_XZ_SAMPLE")
	if path == "" {
		path = "/work/bench/chunk0.bin"
	}
	src, err := os.ReadFile(path)
	if err != nil {
		b.Skip("no sample:", err)
	}
	level := 6
	if s := os.Getenv("BUILDER_XZ_LEVEL"); s != "" {
		if level, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	e, err := NewEncoder(level)
	if err != nil {
		b.Fatal(err)
	}
	// BUILDER_XZ_NICE and BUILDER_XZ_DEPTH override the level's, for
	// tuning.
	if s := os.Getenv("BUILDER_XZ_NICE"); s != "" {
		e.p.niceLen, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("BUILDER_XZ_DEPTH"); s != "" {
		e.p.depth, _ = strconv.Atoi(s)
	}
	e.p.hc4 = os.Getenv("BUILDER_XZ_FINDER") == "hc4"
	var out []byte
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		out = out[:0]
		for s := src; len(s) > 0; {
			n := min(len(s), ChunkSize(level))
			if out, _, err = e.AppendBlock(out, s[:n], nil); err != nil {
				b.Fatal(err)
			}
			s = s[n:]
		}
	}
	b.ReportMetric(float64(len(out)), "bytes")
}
