package xz

// The LZMA probability model with builder's fixed literal and position
// settings, lc=3 lp=0 pb=2 (xz's defaults, which the container's filter
// properties announce), and the coding of every symbol through it.

const (
	lc          = 3
	pb          = 2
	posStates   = 1 << pb
	posMask     = posStates - 1
	numStates   = 12
	minMatchLen = 2
	maxMatchLen = 273
	lenLowSyms  = 8
	lenMidSyms  = 8
	lenHighSyms = 256
	lenSyms     = lenLowSyms + lenMidSyms + lenHighSyms
	distSlots   = 64
	endPosModel = 14 // distance slots from here code their middle bits directly
	fullDists   = 1 << (endPosModel / 2)
	alignBits   = 4
	alignSize   = 1 << alignBits
	lenStates   = 4 // distance slots depend on min(len-2, 3)
)

// lenModel codes a length minus 2: 3 bits for 0-7 and 8-15 per position
// state, 8 bits past that.
type lenModel struct {
	choice  prob
	choice2 prob
	low     [posStates][1 << 3]prob
	mid     [posStates][1 << 3]prob
	high    [lenHighSyms]prob
}

func (l *lenModel) init() {
	l.choice, l.choice2 = probInit, probInit
	for i := range l.low {
		initProbs(l.low[i][:])
		initProbs(l.mid[i][:])
	}
	initProbs(l.high[:])
}

func (l *lenModel) encode(rc *rangeEncoder, n, posState uint32) {
	n -= minMatchLen
	switch {
	case n < lenLowSyms:
		rc.bit(&l.choice, 0)
		rc.tree(l.low[posState][:], n, 3)
	case n < lenLowSyms+lenMidSyms:
		rc.bit(&l.choice, 1)
		rc.bit(&l.choice2, 0)
		rc.tree(l.mid[posState][:], n-lenLowSyms, 3)
	default:
		rc.bit(&l.choice, 1)
		rc.bit(&l.choice2, 1)
		rc.tree(l.high[:], n-lenLowSyms-lenMidSyms, 8)
	}
}

// model is every probability of one LZMA stream state.
type model struct {
	isMatch     [numStates][posStates]prob
	isRep       [numStates]prob
	isRepG0     [numStates]prob
	isRepG1     [numStates]prob
	isRepG2     [numStates]prob
	isRep0Long  [numStates][posStates]prob
	literal     [0x300 << lc]prob
	distSlot    [lenStates][distSlots]prob
	distSpecial [fullDists - endPosModel + 1]prob // [0] unused: trees index from 1
	align       [alignSize]prob
	matchLen    lenModel
	repLen      lenModel
}

func (m *model) init() {
	for s := range numStates {
		initProbs(m.isMatch[s][:])
		initProbs(m.isRep0Long[s][:])
	}
	initProbs(m.isRep[:])
	initProbs(m.isRepG0[:])
	initProbs(m.isRepG1[:])
	initProbs(m.isRepG2[:])
	initProbs(m.literal[:])
	for i := range m.distSlot {
		initProbs(m.distSlot[i][:])
	}
	initProbs(m.distSpecial[:])
	initProbs(m.align[:])
	m.matchLen.init()
	m.repLen.init()
}

// State transitions: states 0-6 follow a literal, 7-11 a match of some
// kind.
func stateLiteral(s uint32) uint32 {
	switch {
	case s < 4:
		return 0
	case s < 10:
		return s - 3
	}
	return s - 6
}

func stateMatch(s uint32) uint32 {
	if s < 7 {
		return 7
	}
	return 10
}

func stateRep(s uint32) uint32 {
	if s < 7 {
		return 8
	}
	return 11
}

func stateShortRep(s uint32) uint32 {
	if s < 7 {
		return 9
	}
	return 11
}

// distSlot is the slot of a 0-based distance: its top two bits and
// their position.
func distSlotOf(d uint32) uint32 {
	if d < 4 {
		return d
	}
	n := uint32(31 - leadingZeros32(d))
	return n<<1 | (d>>(n-1))&1
}

func lenState(n uint32) uint32 { return min(n-minMatchLen, lenStates-1) }

// litProbs is the literal coder for the byte after prev.
func (m *model) litProbs(prev byte) []prob {
	i := uint32(prev>>(8-lc)) * 0x300
	return m.literal[i : i+0x300]
}

// encodeLiteral codes b; after a match the coder also sees the byte at
// rep0 (match), whose bits steer the probabilities while they agree.
func encodeLiteral(rc *rangeEncoder, probs []prob, b byte, matched bool, match byte) {
	sym := uint32(b) | 0x100
	if !matched {
		for sym < 0x10000 {
			rc.bit(&probs[sym>>8], (sym>>7)&1)
			sym <<= 1
		}
		return
	}
	offs := uint32(0x100)
	mb := uint32(match)
	for sym < 0x10000 {
		mb <<= 1
		rc.bit(&probs[offs+(mb&offs)+(sym>>8)], (sym>>7)&1)
		sym <<= 1
		offs &= ^(mb ^ sym)
	}
}

func (m *model) encodeDist(rc *rangeEncoder, d, n uint32) {
	slot := distSlotOf(d)
	rc.tree(m.distSlot[lenState(n)][:], slot, 6)
	if slot < 4 {
		return
	}
	footer := int(slot>>1) - 1
	base := (2 | slot&1) << uint(footer)
	rest := d - base
	if slot < endPosModel {
		rc.reverseTree(m.distSpecial[base-slot:], rest, footer)
		return
	}
	rc.direct(rest>>alignBits, footer-alignBits)
	rc.reverseTree(m.align[:], rest&(alignSize-1), alignBits)
}
