package xz

import (
	"encoding/binary"
	"math/bits"
)

// hc4 is a hash-chain match finder: exact heads for 2 and 3 bytes, a
// hashed head for 4 bytes chaining every earlier position with the same
// hash, kept in a cyclic buffer one dictionary long. Cheaper per position
// than a binary tree, it finds fewer long matches at a given depth, which
// suits the fast levels.
type hc4 struct {
	buf       []byte
	cur       int
	dictSize  int
	niceLen   int
	depth     int
	hash2     []uint32 // position+1 of the last 2-byte sequence, 0: none
	hash3     []uint32
	hash4     []uint32
	chain     []uint32 // chain[p&chainMask]: position+1 of the previous one with p's hash4
	chainMask int
	hashBits  uint
}

const (
	hash3Bits = 16
)

func hash4Bits(dictSize int) uint {
	b := uint(bits.Len(uint(dictSize))) - 1
	return min(max(b, 16), 24)
}

func (h *hc4) reset(buf []byte, dictSize, niceLen, depth int) {
	h.buf, h.cur, h.dictSize, h.niceLen = buf, 0, dictSize, niceLen
	if depth <= 0 {
		depth = 4 + niceLen/4
	}
	h.depth = depth
	h.hashBits = hash4Bits(min(dictSize, len(buf)))
	h.hash2 = resetTable(h.hash2, 1<<16)
	h.hash3 = resetTable(h.hash3, 1<<hash3Bits)
	h.hash4 = resetTable(h.hash4, 1<<h.hashBits)
	// The chain needs no clearing: a slot is read only through a head
	// or a chain link newer than it, and those were written in this
	// buffer, each after the slot it points to.
	// A power of two at least as large as the dictionary (xz's sizes
	// are powers of two): candidates are at most dictSize-1 back, so
	// their slot is not yet reused, and a mask is cheaper than a modulo.
	n := 1 << bits.Len(uint(min(dictSize, len(buf)+1)-1))
	h.chainMask = n - 1
	if cap(h.chain) < n {
		h.chain = make([]uint32, n)
	}
	h.chain = h.chain[:n]
}

// resetTable returns t with n zero entries, reusing it when it can.
func resetTable(t []uint32, n int) []uint32 {
	if cap(t) < n {
		return make([]uint32, n)
	}
	t = t[:n]
	clear(t)
	return t
}

func (h *hc4) pos() int { return h.cur }

// insert indexes the current position, returning the heads it replaced.
func (h *hc4) insert(v uint32) (p2, p3, p4 uint32) {
	i2 := v & 0xFFFF
	i3 := ((v & 0xFFFFFF) * 2654435761) >> (32 - hash3Bits)
	i4 := (v * 2654435761) >> (32 - h.hashBits)
	p2, p3, p4 = h.hash2[i2], h.hash3[i3], h.hash4[i4]
	me := uint32(h.cur + 1)
	h.hash2[i2], h.hash3[i3], h.hash4[i4] = me, me, me
	h.chain[h.cur&h.chainMask] = p4
	return p2, p3, p4
}

func (h *hc4) skip(n int) {
	for range n {
		if h.cur+4 <= len(h.buf) {
			h.insert(binary.LittleEndian.Uint32(h.buf[h.cur:]))
		}
		h.cur++
	}
}

// matchLen is how many bytes at a equal those at b (a > b), up to limit
// bytes from a.
func matchLen(buf []byte, a, b, limit int) int {
	n := 0
	for n+8 <= limit {
		x := binary.LittleEndian.Uint64(buf[a+n:]) ^ binary.LittleEndian.Uint64(buf[b+n:])
		if x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		n += 8
	}
	for n < limit && buf[a+n] == buf[b+n] {
		n++
	}
	return n
}

func (h *hc4) find(dst []match) []match {
	cur := h.cur
	avail := len(h.buf) - cur
	if avail < 4 {
		h.cur++
		return dst
	}
	p2, p3, p4 := h.insert(binary.LittleEndian.Uint32(h.buf[cur:]))
	h.cur++
	limit := min(avail, h.niceLen)
	best := 1
	minPos := max(cur-h.dictSize+1, 0) // dist = cur-p-1 < dictSize
	// try reports the candidate at position p (1-based) when longer
	// than the best so far; candidates come nearest first.
	try := func(p uint32) bool {
		if p == 0 || int(p-1) < minPos {
			return false
		}
		c := int(p - 1)
		if h.buf[c+best] != h.buf[cur+best] {
			return false
		}
		n := matchLen(h.buf, cur, c, limit)
		if n > best {
			best = n
			dst = append(dst, match{len: uint32(n), dist: uint32(cur - c - 1)})
		}
		return best >= limit
	}
	// p2 is the nearest position with the same two bytes and p3 (unless
	// its hash collided) the nearest with the same three: checked first,
	// the short matches are reported at their nearest distance.
	if try(p2) {
		return dst
	}
	if p3 != 0 && p3 != p2 && try(p3) {
		return dst
	}
	for d, p := 0, p4; d < h.depth && p != 0 && int(p-1) >= minPos; d++ {
		if p != p2 && p != p3 && try(p) {
			return dst
		}
		p = h.chain[int(p-1)&h.chainMask]
	}
	return dst
}
