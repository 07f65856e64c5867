package xz

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

// compress makes a whole stream of src at level, in chunks of chunkSize.
func compress(t testing.TB, src []byte, level, chunkSize int) []byte {
	t.Helper()
	e, err := NewEncoder(level)
	if err != nil {
		t.Fatal(err)
	}
	out := StreamHeader()
	var recs []Record
	for len(src) > 0 {
		n := min(len(src), chunkSize)
		var r Record
		out, r, err = e.AppendBlock(out, src[:n], nil)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
		src = src[n:]
	}
	return AppendTrailer(out, recs)
}

// checkRoundTrip decodes xzData with ulikunitz's reader and, when
// installed, with xz -t, and compares the result with want.
func checkRoundTrip(t testing.TB, xzData, want []byte) {
	t.Helper()
	checkGoReader(t, xzData, want)
	checkXZ(t, xzData, want)
}

func checkGoReader(t testing.TB, xzData, want []byte) {
	t.Helper()
	r, err := xz.NewReader(bytes.NewReader(xzData))
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decoding: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("round trip: got %d bytes, want %d (first difference at %d)", len(got), len(want), firstDiff(got, want))
	}
}

func checkXZ(t testing.TB, xzData, want []byte) {
	t.Helper()
	if _, err := exec.LookPath("xz"); err != nil {
		return
	}
	cmd := exec.Command("xz", "-dc")
	cmd.Stdin = bytes.NewReader(xzData)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz -dc: %v: %s", err, stderr.String())
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("xz -dc: got %d bytes, want %d", len(got), len(want))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// samples are inputs of every kind the coder must get right.
func samples() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 300<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	var text bytes.Buffer
	words := strings.Fields("the quick brown fox jumps over a lazy dog while builder packs images of rootfs trees into xz files")
	for text.Len() < 400<<10 {
		text.WriteString(words[rng.IntN(len(words))])
		if rng.IntN(10) == 0 {
			text.WriteString(".\n")
		} else {
			text.WriteByte(' ')
		}
	}
	rep := bytes.Repeat([]byte("abcabcabdabcabcab"), 20000)
	mixed := append(append(append([]byte(nil), text.Bytes()[:100<<10]...), random[:100<<10]...), rep[:100<<10]...)
	return map[string][]byte{
		"empty":  {},
		"one":    {'x'},
		"two":    {'x', 'y'},
		"zeros":  make([]byte, 3<<20),
		"random": random,
		"text":   text.Bytes(),
		"rep":    rep,
		"mixed":  mixed,
	}
}

func TestRoundTrip(t *testing.T) {
	for name, src := range samples() {
		for _, level := range []int{0, 3, 6} {
			t.Run(name, func(t *testing.T) {
				checkRoundTrip(t, compress(t, src, level, ChunkSize(level)), src)
			})
		}
	}
}

// TestRealData round-trips a benchmark sample when present
// (BUILDER_XZ_SAMPLE, default /work/bench/chunk0.bin; its first 4 MiB
// with -short).
func TestRealData(t *testing.T) {
	path := os.Getenv("BUILDER_XZ_SAMPLE")
	if path == "" {
		path = "/work/bench/chunk0.bin"
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Skip("no sample:", err)
	}
	if testing.Short() {
		src = src[:min(len(src), 4<<20)]
	}
	out := compress(t, src, 6, ChunkSize(6))
	t.Logf("%d -> %d", len(src), len(out))
	checkRoundTrip(t, out, src)
}

// Every level, at sizes around the LZMA2 chunk and block boundaries.
func TestLevelsAndBoundaries(t *testing.T) {
	s := samples()
	text := bytes.Repeat(s["text"], 6) // 2.4 MiB: over one LZMA2 chunk
	for level := 0; level <= MaxLevel; level++ {
		sizes := []int{lzma2MaxIn - 1, lzma2MaxIn, lzma2MaxIn + 1}
		if testing.Short() {
			// Every level, and the 2 MiB edge at a fast and the
			// default level.
			sizes = []int{300 << 10}
			if level == 0 || level == 6 {
				sizes = append(sizes, lzma2MaxIn+1)
			}
		}
		for _, n := range sizes {
			src := text[:n]
			chunk := 1 << 20 // blocks of 1 MiB: their edges too
			checkRoundTrip(t, compress(t, src, level, chunk), src)
		}
	}
}

// xz --robot --list sees one stream of blocks that state their sizes.
func TestListBlocks(t *testing.T) {
	if _, err := exec.LookPath("xz"); err != nil {
		t.Skip("no xz")
	}
	src := samples()["mixed"]
	out := compress(t, src, 1, 100<<10)
	p := t.TempDir() + "/f.xz"
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command("xz", "--robot", "--list", "-vv", p).Output()
	if err != nil {
		t.Fatal(err)
	}
	streams, blocks := 0, 0
	for _, line := range strings.Split(string(list), "\n") {
		f := strings.Split(line, "\t")
		switch f[0] {
		case "stream":
			streams++
		case "block":
			blocks++
			// -vv: header size, then "cu" when the header states
			// both sizes.
			if len(f) < 13 || f[12] != "cu" {
				t.Errorf("block line %q: sizes not in the header", line)
			}
		}
	}
	want := (len(src) + 100<<10 - 1) / (100 << 10)
	if streams != 1 || blocks != want {
		t.Errorf("%d streams, %d blocks; want 1 and %d:\n%s", streams, blocks, want, list)
	}
}

// TestBlockRecordLargestHeaderSize: a header size byte of 255 stands for
// 1024 bytes; read as a byte sum it wrapped to 0 and sliced out of range.
func TestBlockRecordLargestHeaderSize(t *testing.T) {
	block := make([]byte, 16)
	block[0] = 255
	if _, err := BlockRecord(block); err == nil {
		t.Fatal("a 16-byte block whose header claims 1024 bytes gave a record")
	}
}
