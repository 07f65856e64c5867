package xz

// lzmaCoder codes symbols of one chunk of input through the model,
// keeping LZMA's state: the last four match distances (reps) and what
// the last symbols were (state).
type lzmaCoder struct {
	m     model
	rc    rangeEncoder
	state uint32
	reps  [4]uint32
	buf   []byte // the chunk being compressed
	pos   int    // the next byte to code
}

// literalMark as a symbol's distance makes a length-1 symbol a literal.
const literalMark = ^uint32(0)

func (c *lzmaCoder) resetState() {
	c.m.init()
	c.state = 0
	c.reps = [4]uint32{}
}

// encode codes the n bytes at pos as one symbol: a literal (n 1, dist
// literalMark), a short rep (n 1, dist rep0), or a match at 0-based
// distance dist, coded as a rep when dist is one of the reps. Parsers
// give distances, not rep indexes, so that a plan stays valid when a
// state reset zeroes the reps.
func (c *lzmaCoder) encode(n, dist uint32) {
	posState := uint32(c.pos) & posMask
	s := c.state
	if n == 1 && (dist != c.reps[0] || dist == literalMark) {
		c.rc.bit(&c.m.isMatch[s][posState], 0)
		var prev byte
		if c.pos > 0 {
			prev = c.buf[c.pos-1]
		}
		matched := s >= 7
		var mb byte
		if matched {
			mb = c.buf[c.pos-int(c.reps[0])-1]
		}
		encodeLiteral(&c.rc, c.m.litProbs(prev), c.buf[c.pos], matched, mb)
		c.state = stateLiteral(s)
		c.pos++
		return
	}
	c.rc.bit(&c.m.isMatch[s][posState], 1)
	rep := 4
	for i, r := range c.reps {
		if r == dist {
			rep = i
			break
		}
	}
	if rep == 4 {
		c.rc.bit(&c.m.isRep[s], 0)
		c.m.matchLen.encode(&c.rc, n, posState)
		c.m.encodeDist(&c.rc, dist, n)
		c.reps = [4]uint32{dist, c.reps[0], c.reps[1], c.reps[2]}
		c.state = stateMatch(s)
		c.pos += int(n)
		return
	}
	c.rc.bit(&c.m.isRep[s], 1)
	if rep == 0 {
		c.rc.bit(&c.m.isRepG0[s], 0)
		if n == 1 {
			c.rc.bit(&c.m.isRep0Long[s][posState], 0)
			c.state = stateShortRep(s)
			c.pos++
			return
		}
		c.rc.bit(&c.m.isRep0Long[s][posState], 1)
	} else {
		c.rc.bit(&c.m.isRepG0[s], 1)
		if rep == 1 {
			c.rc.bit(&c.m.isRepG1[s], 0)
		} else {
			c.rc.bit(&c.m.isRepG1[s], 1)
			c.rc.bit(&c.m.isRepG2[s], uint32(rep-2))
		}
		d := c.reps[rep]
		copy(c.reps[1:rep+1], c.reps[:rep])
		c.reps[0] = d
	}
	c.m.repLen.encode(&c.rc, n, posState)
	c.state = stateRep(s)
	c.pos += int(n)
}
