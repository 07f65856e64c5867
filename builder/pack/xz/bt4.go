package xz

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// bt4 is the binary-tree match finder the normal (optimal) levels use:
// it finds the longest matches a hash chain of the same depth misses.
//
// Every position of the chunk whose four bytes are known is a node in a
// binary tree, one tree per hash of those four bytes. A tree is ordered
// by the bytes that follow each node (its suffix) and, top to bottom, by
// position: the newest position is the root and every node is newer than
// its children. Inserting the current position walks down from the root
// the way a search for its suffix would, re-hanging each node visited to
// the left (smaller suffix) or right of the new root. The nodes on that
// path are exactly those that are newer than every node between them and
// the current suffix in sorted order, so the first node visited that
// shares L bytes with the current position is the nearest one that does:
// reporting a node whenever it beats the best length so far gives the
// contract's strictly increasing lengths, each at its nearest distance.
//
// Lengths 2 and 3 come from two direct tables of the newest position per
// two-byte value (exact: no hash) and per hash of three bytes.
//
// A node's two child links live in son at the node's slot in a cyclic
// buffer of window+1 slots: a position more than window back is outside
// the dictionary and its slot has been reused, which the distance check
// sees before the slot is read. Positions are stored as pos+off, so that
// the zero of a cleared table is out of the window too and needs no test
// of its own.
type bt4 struct {
	buf     []byte
	cur     uint32 // the current position
	cyc     uint32 // cur's slot in the cyclic buffer
	cycSize uint32 // window+1 slots
	window  uint32 // the largest distance+1 reported: min(dictSize, len(buf))
	off     uint32 // stored value = position + off, so 0 is "none"
	nice    uint32
	depth   uint32
	h4shift uint32

	hash2 []uint32 // newest position per two-byte value
	hash3 []uint32 // newest position per hash of three bytes
	hash4 []uint32 // tree root per hash of four bytes
	son   []uint32 // left, right child per cyclic slot
}

const (
	bt4Hash3Bits = 16
	bt4MinNice   = 4 // a tree node's key is four bytes
	bt4MaxNice   = 273
	// bt4Prime3 and bt4Prime4 are odd multipliers with well mixed bits
	// (the 32-bit golden ratio and a neighbour of it) for multiplicative
	// hashing: the top bits of the product depend on every input byte.
	bt4Prime3 = 0x9E3779B1
	bt4Prime4 = 0x85EBCA77
)

// bt4HashBits is the size of the four-byte hash table for a window: about
// one slot per four positions, at least 2^16 and at most 2^24 (2 Mi
// slots, 8 MiB, at an 8 MiB dictionary). liblzma gives one per two; half
// that kept `builder pack` at -6 on two threads under 256 MiB on the 1 GiB
// benchmark input (261 MiB before), for about 7% more CPU on 24 MiB
// samples of the reference rootfs and sizes within 0.1%. It depends
// on the window alone, never on a previous chunk's tables, so the matches
// (and so the bytes) depend on the input and the level only.
func bt4HashBits(window uint32) uint32 {
	b := uint32(bits.Len32(window)) - 1 // window >= 2^b
	b = max(b, 18)
	return min(b-2, 24)
}

// bt4Hash3 hashes the low three bytes of v.
func bt4Hash3(v uint32) uint32 {
	return ((v & 0xFFFFFF) * bt4Prime3) >> (32 - bt4Hash3Bits)
}

func (f *bt4) reset(buf []byte, dictSize, niceLen, depth int) {
	if len(buf) >= 1<<31 || dictSize <= 0 || dictSize >= 1<<31 {
		panic("xz: bt4 buffer or dictionary out of range")
	}
	window := uint32(min(dictSize, max(len(buf), 1)))
	f.buf = buf
	f.cur = 0
	f.cyc = 0
	f.cycSize = window + 1
	f.window = window
	f.off = window + 1
	f.nice = uint32(min(max(niceLen, bt4MinNice), bt4MaxNice))
	if depth <= 0 {
		depth = 16 + int(f.nice)/2
	}
	f.depth = uint32(depth)

	h4bits := bt4HashBits(window)
	f.h4shift = 32 - h4bits
	f.hash2 = bt4Table(f.hash2, 1<<16)
	f.hash3 = bt4Table(f.hash3, 1<<bt4Hash3Bits)
	f.hash4 = bt4Table(f.hash4, 1<<h4bits)
	// son needs no clearing: a slot is only read through a link from a
	// node of this buffer, and inserting that node wrote it.
	if n := 2 * int(f.cycSize); cap(f.son) >= n {
		f.son = f.son[:n]
	} else {
		f.son = make([]uint32, n)
		bt4HugePages(f.son)
	}
}

// bt4Table returns t cleared and cut to n entries, or a new table when it
// is too small.
func bt4Table(t []uint32, n int) []uint32 {
	if cap(t) < n {
		t = make([]uint32, n)
		bt4HugePages(t)
		return t
	}
	t = t[:n]
	clear(t)
	return t
}

func (f *bt4) pos() int { return int(f.cur) }

func (f *bt4) find(dst []match) []match {
	avail := uint32(len(f.buf)) - f.cur
	if avail < 4 {
		return f.findTail(dst, avail)
	}
	buf := f.buf
	cur := f.cur
	lenLimit := min(f.nice, avail)
	v := binary.LittleEndian.Uint32(buf[cur:])
	h2 := v & 0xFFFF
	h3 := bt4Hash3(v)
	h4 := (v * bt4Prime4) >> f.h4shift
	pv := cur + f.off
	d2 := pv - f.hash2[h2]
	d3 := pv - f.hash3[h3]
	root := f.hash4[h4]
	f.hash2[h2] = pv
	f.hash3[h3] = pv
	f.hash4[h4] = pv

	best := uint32(1)
	if d2 <= f.window {
		// hash2 is exact: the two bytes are equal.
		best = bt4MatchLen(unsafe.Pointer(unsafe.SliceData(buf)), cur-d2, cur, 2, lenLimit)
		dst = append(dst, match{len: best, dist: d2 - 1})
	}
	if d3 != d2 && d3 <= f.window {
		p := cur - d3
		if (binary.LittleEndian.Uint32(buf[p:])^v)&0xFFFFFF == 0 {
			if l := bt4MatchLen(unsafe.Pointer(unsafe.SliceData(buf)), p, cur, 3, lenLimit); l > best {
				best = l
				dst = append(dst, match{len: l, dist: d3 - 1})
			}
		}
	}
	if best == lenLimit {
		f.treeSkip(root, lenLimit)
	} else {
		dst = f.treeFind(dst, root, lenLimit, best)
	}
	f.next()
	return dst
}

// findTail handles the last three positions: too short for a tree key,
// they are not inserted in the trees, only in the two-byte table, which
// is all a later position of this buffer can still use.
func (f *bt4) findTail(dst []match, avail uint32) []match {
	if avail == 0 {
		return dst
	}
	buf := f.buf
	cur := f.cur
	pv := cur + f.off
	if avail >= 2 {
		h2 := uint32(buf[cur]) | uint32(buf[cur+1])<<8
		d2 := pv - f.hash2[h2]
		f.hash2[h2] = pv
		best := uint32(1)
		if d2 <= f.window {
			best = bt4MatchLen(unsafe.Pointer(unsafe.SliceData(buf)), cur-d2, cur, 2, avail)
			dst = append(dst, match{len: best, dist: d2 - 1})
		}
		if avail == 3 {
			h3 := bt4Hash3(h2 | uint32(buf[cur+2])<<16)
			d3 := pv - f.hash3[h3]
			if best < 3 && d3 != d2 && d3 <= f.window {
				p := cur - d3
				if buf[p] == buf[cur] && buf[p+1] == buf[cur+1] && buf[p+2] == buf[cur+2] {
					dst = append(dst, match{len: 3, dist: d3 - 1})
				}
			}
		}
	}
	f.next()
	return dst
}

func (f *bt4) skip(n int) {
	for ; n > 0; n-- {
		avail := uint32(len(f.buf)) - f.cur
		if avail < 4 {
			if avail == 0 {
				return
			}
			f.skipTail(avail)
			continue
		}
		buf := f.buf
		cur := f.cur
		v := binary.LittleEndian.Uint32(buf[cur:])
		h2 := v & 0xFFFF
		h3 := bt4Hash3(v)
		h4 := (v * bt4Prime4) >> f.h4shift
		pv := cur + f.off
		root := f.hash4[h4]
		f.hash2[h2] = pv
		f.hash3[h3] = pv
		f.hash4[h4] = pv
		f.treeSkip(root, min(f.nice, avail))
		f.next()
	}
}

func (f *bt4) skipTail(avail uint32) {
	buf := f.buf
	cur := f.cur
	pv := cur + f.off
	if avail >= 2 {
		h2 := uint32(buf[cur]) | uint32(buf[cur+1])<<8
		f.hash2[h2] = pv
	}
	f.next()
}

func (f *bt4) next() {
	f.cur++
	f.cyc++
	if f.cyc == f.cycSize {
		f.cyc = 0
	}
}

// The tree walks below are the finder's inner loops, where Go's bounds
// checks and slice arithmetic cost more instructions than the walk
// itself (measured with cachegrind: ~130 instructions a node visited),
// so they read buf and son through unsafe pointers. What keeps every
// access in bounds:
//   - every stored value the walk reads (a hash4 head, a son link) is 0
//     or pos+off for a pos < cur of this buffer: reset clears the heads,
//     and a link is only followed from a node inside the window, whose
//     slot was written when it was inserted; the window test stops the
//     walk at 0 and at every position whose slot may have been reused;
//   - so p, the node's position, is in [cur-window, cur) and its slot in
//     [0, cycSize), which son has twice over;
//   - bytes are read at p+l and cur+l with l < lenLimit <= len(buf)-cur,
//     and eight at a time only after testing cur+l+8 <= len(buf).
// The tests check every match against brute force; run them with -race
// after changing these loops: its checkptr instrumentation checks this
// pointer arithmetic.

// bt4Load64 reads eight bytes at b+i, little endian on any machine.
func bt4Load64(b unsafe.Pointer, i uint32) uint64 {
	return binary.LittleEndian.Uint64(unsafe.Slice((*byte)(unsafe.Add(b, i)), 8))
}

func bt4Byte(b unsafe.Pointer, i uint32) byte {
	return *(*byte)(unsafe.Add(b, i))
}

func bt4Link(son unsafe.Pointer, i uint32) *uint32 {
	return (*uint32)(unsafe.Add(son, uintptr(i)*4))
}

// treeFind inserts the current position at the root of the tree whose
// old root is the stored position root, appending each node that beats
// best on the way down.
func (f *bt4) treeFind(dst []match, root, lenLimit, best uint32) []match {
	buf := unsafe.Pointer(unsafe.SliceData(f.buf))
	son := unsafe.Pointer(unsafe.SliceData(f.son))
	end := uint32(len(f.buf))
	cur := f.cur
	off := f.off
	cycSize, depth := f.cycSize, f.depth
	pv := cur + off
	lowest := pv - f.window // the oldest stored value inside the window
	base := pv - f.cyc      // a stored value minus base is its slot, mod cycSize
	// ptr1 is where the next node smaller than cur hangs, ptr0 the next
	// larger one; len1 and len0 are the bytes cur shares with every node
	// below those bounds, so comparisons can start there.
	ptr1 := bt4Link(son, 2*f.cyc)
	ptr0 := bt4Link(son, 2*f.cyc+1)
	var len0, len1 uint32
	for {
		if depth == 0 || root < lowest {
			*ptr0 = 0
			*ptr1 = 0
			return dst
		}
		depth--
		slot := root - base
		if root < base {
			slot += cycSize
		}
		pair := bt4Link(son, 2*slot)
		p := root - off
		l := min(len0, len1)
		// One comparison of eight bytes settles most nodes: how many
		// are equal, and which side the node goes at the first that
		// is not.
		var bp, bc byte
		if cur+l+8 <= end {
			wp, wc := bt4Load64(buf, p+l), bt4Load64(buf, cur+l)
			if x := wp ^ wc; x != 0 {
				k := uint32(bits.TrailingZeros64(x)) &^ 7
				l = min(l+k>>3, lenLimit)
				bp, bc = byte(wp>>k), byte(wc>>k)
			} else {
				l = bt4MatchLen(buf, p, cur, min(l+8, lenLimit), lenLimit)
				if l < lenLimit {
					bp, bc = bt4Byte(buf, p+l), bt4Byte(buf, cur+l)
				}
			}
		} else {
			l = bt4MatchLen(buf, p, cur, l, lenLimit)
			if l < lenLimit {
				bp, bc = bt4Byte(buf, p+l), bt4Byte(buf, cur+l)
			}
		}
		if l > best {
			best = l
			dst = append(dst, match{len: l, dist: pv - root - 1})
			if l == lenLimit {
				// Equal as far as we look: cur takes the node's
				// place, which drops the node (the nearer cur
				// serves every later position as well).
				*ptr1 = *pair
				*ptr0 = *bt4Link(unsafe.Pointer(pair), 1)
				return dst
			}
		}
		if bp < bc {
			*ptr1 = root
			ptr1 = bt4Link(unsafe.Pointer(pair), 1)
			root = *ptr1
			len1 = l
		} else {
			*ptr0 = root
			ptr0 = pair
			root = *ptr0
			len0 = l
		}
	}
}

// treeSkip is treeFind without the matches: it changes the tree exactly
// as treeFind does (there best < lenLimit, so a node as long as lenLimit
// always beats it), so skipping then finding finds what finding all the
// way would.
func (f *bt4) treeSkip(root, lenLimit uint32) {
	buf := unsafe.Pointer(unsafe.SliceData(f.buf))
	son := unsafe.Pointer(unsafe.SliceData(f.son))
	end := uint32(len(f.buf))
	cur := f.cur
	off := f.off
	cycSize, depth := f.cycSize, f.depth
	pv := cur + off
	lowest := pv - f.window
	base := pv - f.cyc
	ptr1 := bt4Link(son, 2*f.cyc)
	ptr0 := bt4Link(son, 2*f.cyc+1)
	var len0, len1 uint32
	for {
		if depth == 0 || root < lowest {
			*ptr0 = 0
			*ptr1 = 0
			return
		}
		depth--
		slot := root - base
		if root < base {
			slot += cycSize
		}
		pair := bt4Link(son, 2*slot)
		p := root - off
		l := min(len0, len1)
		var bp, bc byte
		if cur+l+8 <= end {
			wp, wc := bt4Load64(buf, p+l), bt4Load64(buf, cur+l)
			if x := wp ^ wc; x != 0 {
				k := uint32(bits.TrailingZeros64(x)) &^ 7
				l = min(l+k>>3, lenLimit)
				bp, bc = byte(wp>>k), byte(wc>>k)
			} else {
				l = bt4MatchLen(buf, p, cur, min(l+8, lenLimit), lenLimit)
				if l < lenLimit {
					bp, bc = bt4Byte(buf, p+l), bt4Byte(buf, cur+l)
				}
			}
		} else {
			l = bt4MatchLen(buf, p, cur, l, lenLimit)
			if l < lenLimit {
				bp, bc = bt4Byte(buf, p+l), bt4Byte(buf, cur+l)
			}
		}
		if l == lenLimit {
			*ptr1 = *pair
			*ptr0 = *bt4Link(unsafe.Pointer(pair), 1)
			return
		}
		if bp < bc {
			*ptr1 = root
			ptr1 = bt4Link(unsafe.Pointer(pair), 1)
			root = *ptr1
			len1 = l
		} else {
			*ptr0 = root
			ptr0 = pair
			root = *ptr0
			len0 = l
		}
	}
}

// bt4MatchLen returns how many bytes at a and b are equal, knowing the
// first l are, up to limit; b+limit is within the buffer and a < b.
func bt4MatchLen(buf unsafe.Pointer, a, b, l, limit uint32) uint32 {
	for l+8 <= limit {
		if x := bt4Load64(buf, a+l) ^ bt4Load64(buf, b+l); x != 0 {
			return l + uint32(bits.TrailingZeros64(x))>>3
		}
		l += 8
	}
	for l < limit && bt4Byte(buf, a+l) == bt4Byte(buf, b+l) {
		l++
	}
	return l
}
