package xz

// lazyParser is the fast levels' parser: the longest match found, unless
// a rep match is nearly as long (reps are cheap to code), or the next
// position has a better match, in which case a literal goes first.
type lazyParser struct {
	c       *lzmaCoder
	mf      matchFinder
	niceLen int
	cur     []match // the matches at c.pos when haveCur
	ahead   []match
	haveCur bool
}

func (p *lazyParser) reset(c *lzmaCoder, mf matchFinder, niceLen int) {
	p.c, p.mf, p.niceLen, p.haveCur = c, mf, niceLen, false
}

func (p *lazyParser) stateReset() {}

func (p *lazyParser) chunkEnd(bool) {}

// farther is whether big is so much farther than small that a match one
// byte longer at big is not worth it.
func farther(small, big uint32) bool { return big>>7 > small }

// repLen is the length of the match at rep distance d, 0 if none.
func repLen(buf []byte, pos int, d uint32, limit int) int {
	if int(d) >= pos {
		return 0
	}
	b := pos - int(d) - 1
	if buf[pos] != buf[b] || buf[pos+1] != buf[b+1] {
		return 0
	}
	return matchLen(buf, pos, b, limit)
}

func (p *lazyParser) next() (uint32, uint32) {
	c := p.c
	ms := p.cur
	if p.haveCur {
		p.haveCur = false
	} else {
		ms = p.mf.find(p.cur[:0])
		p.cur = ms
	}
	// The finder is one position past c.pos now.
	pos, buf := c.pos, c.buf
	avail := len(buf) - pos
	if avail < 2 {
		return 1, literalMark
	}
	limit := min(avail, maxMatchLen)
	bestRep, bestRepLen := 0, 0
	for i, d := range c.reps {
		if n := repLen(buf, pos, d, limit); n > bestRepLen {
			bestRep, bestRepLen = i, n
		}
	}
	if bestRepLen >= p.niceLen {
		p.mf.skip(bestRepLen - 1)
		return uint32(bestRepLen), c.reps[bestRep]
	}
	mainLen, mainDist := 0, uint32(0)
	if k := len(ms); k > 0 {
		mainLen, mainDist = int(ms[k-1].len), ms[k-1].dist
		if mainLen >= p.niceLen {
			mainLen = matchLen(buf, pos, pos-int(mainDist)-1, limit)
			p.mf.skip(mainLen - 1)
			return uint32(mainLen), mainDist
		}
		// A match one shorter at a much nearer distance is cheaper.
		for k > 1 && mainLen == int(ms[k-2].len)+1 && !farther(ms[k-2].dist, mainDist) {
			k--
			mainLen, mainDist = int(ms[k-1].len), ms[k-1].dist
		}
		if mainLen == 2 && mainDist >= 0x80 {
			mainLen = 1
		}
	}
	if bestRepLen >= 2 && (bestRepLen+1 >= mainLen ||
		bestRepLen+2 >= mainLen && mainDist >= 1<<9 ||
		bestRepLen+3 >= mainLen && mainDist >= 1<<15) {
		p.mf.skip(bestRepLen - 1)
		return uint32(bestRepLen), c.reps[bestRep]
	}
	if mainLen < 2 || avail <= 2 {
		return 1, literalMark
	}
	// Look one position ahead: a literal now and a better match
	// there may beat this match.
	p.ahead = p.mf.find(p.ahead[:0])
	if k := len(p.ahead); k > 0 {
		nextLen, nextDist := int(p.ahead[k-1].len), p.ahead[k-1].dist
		if nextLen >= mainLen && nextDist < mainDist ||
			nextLen == mainLen+1 && !farther(mainDist, nextDist) ||
			nextLen > mainLen+1 ||
			nextLen+1 >= mainLen && mainLen >= 3 && farther(nextDist, mainDist) {
			p.cur, p.ahead, p.haveCur = p.ahead, p.cur, true
			return 1, literalMark
		}
	}
	need := max(mainLen-1, 2)
	if need < avail {
		for _, d := range c.reps {
			if int(d) < pos+1 && matchLen(buf, pos+1, pos-int(d), need) == need {
				p.cur, p.ahead, p.haveCur = p.ahead, p.cur, true
				return 1, literalMark
			}
		}
	}
	p.mf.skip(mainLen - 2)
	return uint32(mainLen), mainDist
}
