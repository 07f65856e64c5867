package xz

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"syscall"
	"testing"
)

// bt4Inputs are small buffers that exercise the trees: random bytes (few
// matches), a small alphabet (many short ones), runs and repeats (long
// ones, longer than niceLen, at many distances), and text-like data.
func bt4Inputs(seed uint64) map[string][]byte {
	r := rand.New(rand.NewPCG(seed, 19))
	in := map[string][]byte{}
	random := make([]byte, 2000)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	in["random"] = random
	abc := make([]byte, 3000)
	for i := range abc {
		abc[i] = "abc"[r.IntN(3)]
	}
	in["abc"] = abc
	// Twelve letters: three-byte matches are common, four-byte ones rare,
	// so many positions' best match comes from the three-byte table.
	dozen := make([]byte, 4000)
	for i := range dozen {
		dozen[i] = byte('a' + r.IntN(12))
	}
	in["dozen"] = dozen
	in["zeros"] = make([]byte, 1500)
	var rep []byte
	for len(rep) < 4000 {
		// Copies of earlier pieces, some longer than 273, with edits.
		if len(rep) > 16 && r.IntN(3) > 0 {
			start := r.IntN(len(rep))
			n := 1 + r.IntN(400)
			for i := 0; i < n; i++ {
				rep = append(rep, rep[start+i%(len(rep)-start)])
			}
		}
		rep = append(rep, byte('a'+r.IntN(26)))
	}
	in["repeats"] = rep
	var text []byte
	words := []string{"the ", "match ", "finder ", "tree ", "node ", "\n", "position ", "a ", "of "}
	for len(text) < 4000 {
		text = append(text, words[r.IntN(len(words))]...)
	}
	in["text"] = text
	return in
}

// bt4Brute returns, for every position, the length of the longest match
// at each distance (capped at limit), index d = dist.
func bt4BruteLens(buf []byte, cur, dictSize, limit int) []int {
	n := min(cur, dictSize)
	lens := make([]int, n)
	for d := range n {
		p := cur - d - 1
		l := 0
		for l < limit && buf[p+l] == buf[cur+l] {
			l++
		}
		lens[d] = l
	}
	return lens
}

// bt4Check checks the matches found at cur against brute force: each is
// real, within the dictionary and the buffer, lengths strictly
// increasing. With exact set (unlimited depth) each is also at the
// nearest distance for its length and the longest is the longest there
// is, except that a best of exactly 3 may be missed through a three-byte
// hash collision. Under a depth limit neither is certain: a walk cut at
// the limit drops the older nodes below the cut, and one of them may be
// nearer for some later position than a node still in the tree.
func bt4Check(t *testing.T, name string, buf []byte, cur, dictSize, nice int, ms []match, exact bool) {
	t.Helper()
	limit := min(max(nice, bt4MinNice), bt4MaxNice, len(buf)-cur)
	if len(ms) == 0 && !exact {
		return
	}
	lens := bt4BruteLens(buf, cur, dictSize, limit)
	longest := 0
	for _, l := range lens {
		longest = max(longest, l)
	}
	prev := uint32(1)
	for _, m := range ms {
		if m.len <= prev || int(m.len) > limit || int(m.dist) >= len(lens) {
			t.Fatalf("%s at %d: bad match %+v after len %d (limit %d, dist bound %d): %v", name, cur, m, prev, limit, len(lens), ms)
		}
		if got := lens[m.dist]; got != int(m.len) {
			t.Fatalf("%s at %d: match %+v has %d equal bytes: %v", name, cur, m, got, ms)
		}
		for d := 0; exact && d < int(m.dist); d++ {
			if lens[d] >= int(m.len) {
				t.Fatalf("%s at %d: match %+v but dist %d is as long (%d): %v", name, cur, m, d, lens[d], ms)
			}
		}
		prev = m.len
	}
	if !exact {
		return
	}
	found := 0
	if len(ms) > 0 {
		found = int(ms[len(ms)-1].len)
	}
	if longest < 2 {
		longest = 0
	}
	if found == 2 && longest == 3 && bt4Hash3Collides(buf, cur, lens) {
		return
	}
	if found != longest {
		t.Fatalf("%s at %d: longest %d, found %d: %v", name, cur, longest, found, ms)
	}
}

// bt4Hash3Collides tells whether a position between cur and its nearest
// three-byte match has the same three-byte hash but other bytes, hiding
// that match from the three-byte table.
func bt4Hash3Collides(buf []byte, cur int, lens []int) bool {
	key := func(p int) uint32 { return uint32(buf[p]) | uint32(buf[p+1])<<8 | uint32(buf[p+2])<<16 }
	for d, l := range lens {
		if l >= 3 {
			return false
		}
		if p := cur - d - 1; bt4Hash3(key(p)) == bt4Hash3(key(cur)) {
			return true
		}
	}
	return false
}

func TestBT4AgainstBruteForce(t *testing.T) {
	dicts, nices := []int{1 << 20, 700, 64}, []int{273, 32, 5}
	if testing.Short() {
		dicts, nices = []int{1 << 20, 64}, []int{273, 5}
	}
	for _, dictSize := range dicts {
		for _, nice := range nices {
			for name, buf := range bt4Inputs(uint64(dictSize + nice)) {
				t.Run(fmt.Sprintf("%s/dict%d/nice%d", name, dictSize, nice), func(t *testing.T) {
					// Unlimited depth: the longest match must be found.
					// The default depth: fewer matches, each still real
					// and nearest among those found.
					var unlimited, deflt bt4
					unlimited.reset(buf, dictSize, nice, 1<<30)
					deflt.reset(buf, dictSize, nice, 0)
					var ms []match
					for cur := range buf {
						ms = unlimited.find(ms[:0])
						bt4Check(t, name, buf, cur, dictSize, nice, ms, true)
						ms = deflt.find(ms[:0])
						bt4Check(t, name, buf, cur, dictSize, nice, ms, false)
					}
				})
			}
		}
	}
}

// FuzzBT4 checks the finder against brute force on any input, with the
// window, niceLen and depth taken from the input's first bytes.
func FuzzBT4(f *testing.F) {
	for _, buf := range bt4Inputs(5) {
		f.Add(buf[:min(len(buf), 600)])
	}
	f.Add([]byte("\x03\x10\x00abcabcabcabcabcabcabcabc"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 3 || len(in) > 4096 {
			return
		}
		dictSize := 1 + int(in[0])*int(in[0])
		nice := 2 + int(in[1])
		exact := in[2]&1 == 0
		depth := 0
		if exact {
			depth = 1 << 30
		}
		buf := in[3:]
		var fd bt4
		fd.reset(buf, dictSize, nice, depth)
		var ms []match
		for cur := range buf {
			if in[2]&2 != 0 && cur%7 == 3 {
				fd.skip(1)
				continue
			}
			ms = fd.find(ms[:0])
			bt4Check(t, "fuzz", buf, cur, dictSize, nice, ms, exact)
		}
	})
}

// bt4All returns the matches found at every position, finding all the way.
func bt4All(f *bt4, buf []byte, dictSize, nice, depth int) [][]match {
	f.reset(buf, dictSize, nice, depth)
	all := make([][]match, len(buf))
	for f.pos() < len(buf) {
		cur := f.pos()
		all[cur] = f.find(nil)
	}
	return all
}

func TestBT4SkipThenFind(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for name, buf := range bt4Inputs(7) {
		for _, nice := range []int{8, 64, 273} {
			var f bt4
			want := bt4All(&f, buf, 1<<16, nice, 0)
			f.reset(buf, 1<<16, nice, 0)
			for f.pos() < len(buf) {
				if r.IntN(2) == 0 {
					before := f.pos()
					n := 1 + r.IntN(300)
					f.skip(n)
					if f.pos() != min(before+n, len(buf)) {
						t.Fatalf("%s: skip(%d) from %d went to %d", name, n, before, f.pos())
					}
					continue
				}
				cur := f.pos()
				got := f.find(nil)
				if !slices.Equal(got, want[cur]) {
					t.Fatalf("%s nice %d at %d: after skips %v, finding all the way %v", name, nice, cur, got, want[cur])
				}
			}
		}
	}
}

func TestBT4ResetReuse(t *testing.T) {
	in := bt4Inputs(11)
	var fresh, reused bt4
	// A large window first, then smaller ones and a larger one again: the
	// tables left from before must change nothing.
	bt4All(&reused, in["repeats"], 1<<20, 64, 0)
	for _, c := range []struct {
		name     string
		dictSize int
	}{{"text", 1 << 20}, {"abc", 100}, {"repeats", 1 << 12}, {"zeros", 1 << 22}, {"text", 300}} {
		buf := in[c.name]
		want := bt4All(&fresh, buf, c.dictSize, 64, 0)
		fresh = bt4{}
		got := bt4All(&reused, buf, c.dictSize, 64, 0)
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Fatalf("%s dict %d at %d: reused %v, fresh %v", c.name, c.dictSize, i, got[i], want[i])
			}
		}
	}
}

func TestBT4Boundaries(t *testing.T) {
	var f bt4
	for n := 0; n <= 12; n++ {
		for _, b := range [][]byte{make([]byte, n), []byte("abababababab")[:n], []byte("abcabcaxabca")[:n]} {
			for _, dictSize := range []int{1, 2, 3, 4096} {
				f.reset(b, dictSize, 273, 1<<30)
				for f.pos() < len(b) {
					cur := f.pos()
					ms := f.find(nil)
					bt4Check(t, fmt.Sprintf("%q dict %d", b, dictSize), b, cur, dictSize, 273, ms, true)
				}
				// Skipping any prefix, the tail included, then finding
				// finds what finding all the way does.
				want := bt4All(&f, b, dictSize, 273, 0)
				for k := 1; k < len(b); k++ {
					f.reset(b, dictSize, 273, 0)
					f.skip(k)
					for f.pos() < len(b) {
						cur := f.pos()
						if got := f.find(nil); !slices.Equal(got, want[cur]) {
							t.Fatalf("%q dict %d: after skip(%d), at %d %v, want %v", b, dictSize, k, cur, got, want[cur])
						}
					}
				}
				// At the end, find and skip stay put.
				if ms := f.find(nil); len(ms) != 0 || f.pos() != len(b) {
					t.Fatalf("%q: find at the end gave %v, pos %d", b, ms, f.pos())
				}
				f.skip(3)
				if f.pos() != len(b) {
					t.Fatalf("%q: skip at the end moved to %d", b, f.pos())
				}
			}
		}
	}
	// A run of zeros with a dictionary of 1 finds every match at dist 0,
	// as long as the buffer allows.
	z := make([]byte, 40)
	f.reset(z, 1, 16, 0)
	f.skip(1)
	for f.pos() < len(z) {
		cur := f.pos()
		ms := f.find(nil)
		want := min(16, len(z)-cur)
		if want < 2 {
			if len(ms) != 0 {
				t.Fatalf("zeros at %d: %v", cur, ms)
			}
			continue
		}
		if len(ms) != 1 || ms[0] != (match{len: uint32(want), dist: 0}) {
			t.Fatalf("zeros at %d: %v, want len %d dist 0", cur, ms, want)
		}
	}
}

// BenchmarkBT4 runs the finder as a greedy parser would on a 24 MiB
// sample of the reference rootfs tar (see the issue 19 brief): find,
// then skip over the longest match. The sample is not in the repository;
// the benchmark skips without it. Set BUILDER_BT4_SAMPLE to use another.
func BenchmarkBT4(b *testing.B) {
	path := os.Getenv("BUILDER_BT4_SAMPLE")
	if path == "" {
		path = "/work/bench/chunk0.bin"
	}
	buf, err := os.ReadFile(path)
	if err != nil {
		b.Skipf("no sample: %v", err)
	}
	for _, nice := range []int{16, 32, 64} {
		b.Run(fmt.Sprintf("nice%d", nice), func(b *testing.B) {
			var f bt4
			ms := make([]match, 0, bt4MaxNice)
			b.SetBytes(int64(len(buf)))
			finds := 0
			cpu0 := bt4CPU(b)
			for b.Loop() {
				f.reset(buf, 8<<20, nice, 0)
				for f.pos() < len(buf) {
					ms = f.find(ms[:0])
					finds++
					if len(ms) > 0 {
						if l := int(ms[len(ms)-1].len); l > 2 {
							f.skip(l - 1)
						}
					}
				}
			}
			b.ReportMetric(float64(finds)/float64(b.N), "finds/op")
			// The machine is shared: MB per second of this process's
			// CPU time is steadier than MB/s of wall time.
			b.ReportMetric(float64(len(buf))*float64(b.N)/1e6/(bt4CPU(b)-cpu0), "MB/cpu-s")
		})
	}
}

// bt4CPU returns the CPU time this process has used, in seconds.
func bt4CPU(b *testing.B) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
