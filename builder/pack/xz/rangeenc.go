package xz

// The range coder and its adaptive bit probabilities, as LZMA defines
// them: 11-bit probabilities moved by 1/32 of the distance to 0 or 1, a
// 32-bit range renormalized a byte at a time, and a carry that can reach
// back over a run of 0xFF bytes (hence the cache).

const (
	probBits  = 11
	probInit  = 1 << (probBits - 1)
	moveBits  = 5
	topValue  = 1 << 24
	rcFlushed = 5 // bytes a flush adds at most to those already out
)

// prob is one adaptive probability that the next bit is 0, out of 2^11.
type prob uint16

// rangeEncoder writes to out; it is reset for every LZMA2 chunk.
type rangeEncoder struct {
	low       uint64
	rng       uint32
	cache     byte
	cacheSize int64 // bytes held back: the cache and a run of 0xFF after it
	out       []byte
}

func (rc *rangeEncoder) reset(out []byte) {
	rc.low, rc.rng, rc.cache, rc.cacheSize = 0, 0xFFFFFFFF, 0, 1
	rc.out = out
}

// pending is how many bytes the chunk has when flushed now.
func (rc *rangeEncoder) pending() int { return len(rc.out) + int(rc.cacheSize) + 4 }

func (rc *rangeEncoder) shiftLow() {
	if uint32(rc.low) < 0xFF000000 || rc.low>>32 != 0 {
		carry := byte(rc.low >> 32)
		b := rc.cache
		for {
			rc.out = append(rc.out, b+carry)
			b = 0xFF
			rc.cacheSize--
			if rc.cacheSize == 0 {
				break
			}
		}
		rc.cache = byte(rc.low >> 24)
	}
	rc.cacheSize++
	rc.low = (rc.low & 0x00FFFFFF) << 8
}

func (rc *rangeEncoder) flush() {
	for range rcFlushed {
		rc.shiftLow()
	}
}

func (rc *rangeEncoder) bit(p *prob, b uint32) {
	bound := (rc.rng >> probBits) * uint32(*p)
	if b == 0 {
		rc.rng = bound
		*p += (1<<probBits - *p) >> moveBits
	} else {
		rc.low += uint64(bound)
		rc.rng -= bound
		*p -= *p >> moveBits
	}
	for rc.rng < topValue {
		rc.rng <<= 8
		rc.shiftLow()
	}
}

// direct writes the low n bits of v, highest first, at probability 1/2.
func (rc *rangeEncoder) direct(v uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		rc.rng >>= 1
		if (v>>uint(i))&1 != 0 {
			rc.low += uint64(rc.rng)
		}
		for rc.rng < topValue {
			rc.rng <<= 8
			rc.shiftLow()
		}
	}
}

// tree writes the low n bits of v, highest first, through a binary tree
// of probabilities (probs[1] is the root).
func (rc *rangeEncoder) tree(probs []prob, v uint32, n int) {
	m := uint32(1)
	for i := n - 1; i >= 0; i-- {
		b := (v >> uint(i)) & 1
		rc.bit(&probs[m], b)
		m = m<<1 | b
	}
}

// reverseTree writes the low n bits of v, lowest first.
func (rc *rangeEncoder) reverseTree(probs []prob, v uint32, n int) {
	m := uint32(1)
	for range n {
		b := v & 1
		v >>= 1
		rc.bit(&probs[m], b)
		m = m<<1 | b
	}
}

func initProbs(p []prob) {
	for i := range p {
		p[i] = probInit
	}
}
