package xz

import "fmt"

// MaxLevel is the highest level, as xz's presets go from 0 to 9.
const MaxLevel = 9

// params are what a level sets.
type params struct {
	dictSize int
	niceLen  int
	depth    int // candidates a finder looks at per position, 0: its default
	optimal  bool
	hc4      bool // the optimal parser over hc4 rather than bt4
}

// levelParams follows xz's presets for the dictionary sizes; the rest is
// tuned on builder's samples (24 MiB pieces of a Debian rootfs tar, CPU
// time against xz -6 -T1), where bt4's search depth is what the time
// goes with. At level 6, xz's own nice 64 and depth 48 came within 1% of
// xz -6's size at 1.3-1.4x its time; nice 32 and depth 8 is 1.2-3.1%
// larger in 0.7-0.8x its time (0.85x is the target).
func levelParams(level int) params {
	dict := DictSize(level)
	switch level {
	case 0:
		return params{dictSize: dict, niceLen: 128, depth: 4}
	case 1:
		return params{dictSize: dict, niceLen: 128, depth: 8}
	case 2:
		return params{dictSize: dict, niceLen: 273, depth: 24}
	case 3:
		return params{dictSize: dict, niceLen: 273, depth: 48}
	case 4:
		return params{dictSize: dict, niceLen: 16, depth: 4, optimal: true}
	case 5:
		return params{dictSize: dict, niceLen: 32, depth: 4, optimal: true}
	case 6:
		return params{dictSize: dict, niceLen: 32, depth: 8, optimal: true}
	}
	// 7-9: larger dictionaries, and more search for those who ask
	// for them.
	return params{dictSize: dict, niceLen: 64, depth: 16, optimal: true}
}

// DictSize is the dictionary size of a level, xz's for the same preset.
func DictSize(level int) int {
	return [...]int{256 << 10, 1 << 20, 2 << 20, 4 << 20, 4 << 20, 8 << 20, 8 << 20, 16 << 20, 32 << 20, 64 << 20}[level]
}

// ChunkSize is the input of one block at a level: two dictionaries, at
// least 1 MiB. xz -T cuts blocks of three; two kept `builder pack`'s
// peak RSS at -6 with two threads under 256 MiB (316 MiB with three:
// each worker holds its chunk, and its output, beside 81 MiB of tables)
// for 0.4% more output on the reference rootfs (87.5 MB against 87.1)
// and no more time. Changing it changes every xz file builder writes.
func ChunkSize(level int) int { return max(2*DictSize(level), 1<<20) }

// Encoder compresses chunks into xz blocks. It keeps its tables from one
// chunk to the next, so a worker makes one and reuses it; it is not safe
// for concurrent use.
type Encoder struct {
	p     params
	coder lzmaCoder
	hc    hc4
	bt    bt4
	lazy  lazyParser
	opt   *optimalParser // made for the normal levels only
	chunk []byte         // one LZMA2 chunk's range coder output
}

// NewEncoder returns an encoder for a level from 0 to MaxLevel.
func NewEncoder(level int) (*Encoder, error) {
	if level < 0 || level > MaxLevel {
		return nil, fmt.Errorf("xz level must be from 0 to %d, not %d", MaxLevel, level)
	}
	return &Encoder{p: levelParams(level), chunk: make([]byte, 0, lzma2MaxOut+symbolMaxOut)}, nil
}

// AppendBlock appends src compressed as one block (dictionary and state
// reset at its start) and returns its index record. An empty src gives
// no block and a zero record, which has no place in the index. It
// returns ErrAborted soon after stop closes.
func (e *Encoder) AppendBlock(dst, src []byte, stop <-chan struct{}) ([]byte, Record, error) {
	if len(src) == 0 {
		return dst, Record{}, nil
	}
	blockStart := len(dst)
	dst = append(dst, make([]byte, blockHeaderRoom)...)
	dataStart := len(dst)
	e.coder.buf, e.coder.pos = src, 0
	var p parser = &e.lazy
	if e.p.optimal {
		if e.opt == nil {
			e.opt = new(optimalParser)
		}
		var mf matchFinder = &e.bt
		if e.p.hc4 {
			mf = &e.hc
		}
		mf.reset(src, e.p.dictSize, e.p.niceLen, e.p.depth)
		e.opt.reset(&e.coder, mf, e.p.niceLen, e.p.dictSize)
		p = e.opt
	} else {
		e.hc.reset(src, e.p.dictSize, e.p.niceLen, e.p.depth)
		e.lazy.reset(&e.coder, &e.hc, e.p.niceLen)
	}
	var err error
	dst, e.chunk, err = appendLZMA2(dst, &e.coder, p, e.chunk, stop)
	e.coder.buf = nil
	if err != nil {
		return dst[:blockStart], Record{}, err
	}
	dst, r := appendBlock(dst, blockStart, dataStart, src, e.p.dictSize)
	return dst, r, nil
}
