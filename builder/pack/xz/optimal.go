package xz

// optimalParser is the normal levels' parser. From the current position
// it prices every way the finder's matches, the four reps and literals
// can cover the bytes ahead (a shortest path over positions, each edge a
// symbol priced by the model as it stands), up to a long match or
// optWindow positions, and returns the cheapest path's symbols one by
// one.

const (
	optWindow = 1 << 12
	// Prices are refreshed from the model after so many symbols: the
	// distance tables are the dearest to make.
	distRefresh  = 128
	alignRefresh = 16
	lenRefresh   = 256
)

// optNode is the cheapest known way to reach one position of the window.
type optNode struct {
	price uint32
	prev  uint32 // the position it is reached from
	len   uint32 // the symbol: length (1: literal or short rep)
	dist  uint32 // and 0-based distance, literalMark for a literal
	lit   bool   // a literal comes before the symbol (a rep0 match)
	state uint32 // after the symbol, set once the node is reached
	reps  [4]uint32
}

type optimalParser struct {
	c       *lzmaCoder
	mf      matchFinder
	niceLen int
	slots   uint32 // distance slots the dictionary can use

	nodes   [optWindow + maxMatchLen + 1]optNode
	matches []match
	plan    []match // the chosen symbols, in order
	next0   int     // plan[next0] is the next to return

	lens, repLens lenPrices
	dists         distPrices
	sinceDist     int
	sinceAlign    int
	sinceLen      int

	// greedy: the last chunk went out stored. Until one compresses
	// again, the longest match is taken as it comes, without pricing
	// the bytes ahead: on data that does not compress, pricing is
	// time lost (the finder still indexes every position).
	greedy bool
}

func (p *optimalParser) reset(c *lzmaCoder, mf matchFinder, niceLen, dictSize int) {
	p.c, p.mf, p.niceLen = c, mf, niceLen
	p.slots = distSlotOf(uint32(dictSize-1)) + 1
	p.plan, p.next0 = p.plan[:0], 0
	p.greedy = false
	p.stateReset()
}

func (p *optimalParser) chunkEnd(stored bool) { p.greedy = stored }

func (p *optimalParser) stateReset() {
	p.sinceDist, p.sinceAlign, p.sinceLen = distRefresh, alignRefresh, lenRefresh
}

func (p *optimalParser) refresh() {
	m := &p.c.m
	if p.sinceDist >= distRefresh {
		p.dists.update(m, p.slots)
		p.sinceDist, p.sinceAlign = 0, 0
	} else if p.sinceAlign >= alignRefresh {
		for i := range uint32(alignSize) {
			p.dists.align[i] = reverseTreePrice(m.align[:], i, alignBits)
		}
		p.sinceAlign = 0
	}
	if p.sinceLen >= lenRefresh {
		for ps := range uint32(posStates) {
			p.lens.update(&m.matchLen, ps)
			p.repLens.update(&m.repLen, ps)
		}
		p.sinceLen = 0
	}
}

func (p *optimalParser) next() (uint32, uint32) {
	if p.next0 == len(p.plan) {
		p.refresh()
		p.plan, p.next0 = p.plan[:0], 0
		if p.greedy {
			p.longest()
		} else {
			p.optimum()
		}
	}
	s := p.plan[p.next0]
	p.next0++
	if s.len >= minMatchLen {
		p.sinceLen++
		if s.dist >= fullDists {
			p.sinceAlign++
		}
		p.sinceDist++
	}
	return s.len, s.dist
}

// repPrice is the price of choosing rep idx (without its length).
func (p *optimalParser) repPrice(idx int, state, posState uint32) uint32 {
	m := &p.c.m
	switch idx {
	case 0:
		return price0(m.isRepG0[state]) + price1(m.isRep0Long[state][posState])
	case 1:
		return price1(m.isRepG0[state]) + price0(m.isRepG1[state])
	}
	return price1(m.isRepG0[state]) + price1(m.isRepG1[state]) + priceBit(m.isRepG2[state], uint32(idx-2))
}

// reach records a way to reach node at with price.
func (p *optimalParser) reach(at int, price, from, n, dist uint32) {
	nd := &p.nodes[at]
	if price < nd.price {
		nd.price, nd.prev, nd.len, nd.dist, nd.lit = price, from, n, dist, false
	}
}

// settle sets the state and reps of node cur from its symbol.
func (p *optimalParser) settle(cur int) {
	nd := &p.nodes[cur]
	from := &p.nodes[nd.prev]
	nd.reps = from.reps
	switch {
	case nd.lit:
		nd.state = stateRep(stateLiteral(from.state))
	case nd.len == 1 && nd.dist == literalMark:
		nd.state = stateLiteral(from.state)
	case nd.len == 1:
		nd.state = stateShortRep(from.state)
	default:
		rep := 4
		for i, r := range from.reps {
			if r == nd.dist {
				rep = i
				break
			}
		}
		if rep == 4 {
			nd.state = stateMatch(from.state)
			nd.reps = [4]uint32{nd.dist, from.reps[0], from.reps[1], from.reps[2]}
		} else {
			nd.state = stateRep(from.state)
			copy(nd.reps[1:rep+1], from.reps[:rep])
			nd.reps[0] = nd.dist
		}
	}
}

// longest plans the longest match at the coder's position (a rep one
// if as long), or a literal.
func (p *optimalParser) longest() {
	c, buf := p.c, p.c.buf
	base := c.pos
	p.matches = p.mf.find(p.matches[:0])
	avail := len(buf) - base
	if avail < 2 {
		p.plan = append(p.plan, match{len: 1, dist: literalMark})
		return
	}
	limit := min(avail, maxMatchLen)
	best := match{len: 1, dist: literalMark}
	for _, d := range c.reps {
		if n := repLen(buf, base, d, limit); n > int(best.len) {
			best = match{len: uint32(n), dist: d}
		}
	}
	if k := len(p.matches); k > 0 {
		m := p.matches[k-1]
		if int(m.len) >= p.niceLen {
			m.len = uint32(matchLen(buf, base, base-int(m.dist)-1, limit))
		}
		// A short far match costs more than its literals.
		if m.len > best.len+1 && (m.len > 2 || m.dist < 0x80) {
			best = m
		}
	}
	if best.len > 1 {
		p.mf.skip(int(best.len) - 1)
	}
	p.plan = append(p.plan, best)
}

// optimum plans the symbols from the coder's position into p.plan.
func (p *optimalParser) optimum() {
	c, buf := p.c, p.c.buf
	base := c.pos
	avail := len(buf) - base
	p.matches = p.mf.find(p.matches[:0])
	if avail < 2 {
		p.plan = append(p.plan, match{len: 1, dist: literalMark})
		return
	}
	nice := p.niceLen
	var repLens [4]int
	bestRep := 0
	limit := min(avail, maxMatchLen)
	for i, d := range c.reps {
		repLens[i] = repLen(buf, base, d, limit)
		if repLens[i] > repLens[bestRep] {
			bestRep = i
		}
	}
	if repLens[bestRep] >= nice {
		p.mf.skip(repLens[bestRep] - 1)
		p.plan = append(p.plan, match{len: uint32(repLens[bestRep]), dist: c.reps[bestRep]})
		return
	}
	mainLen := 0
	if k := len(p.matches); k > 0 {
		mainLen = int(p.matches[k-1].len)
		if mainLen >= nice {
			d := p.matches[k-1].dist
			mainLen = matchLen(buf, base, base-int(d)-1, limit)
			p.mf.skip(mainLen - 1)
			p.plan = append(p.plan, match{len: uint32(mainLen), dist: d})
			return
		}
	}

	n0 := &p.nodes[0]
	n0.price, n0.state, n0.reps = 0, c.state, c.reps
	end := 1
	p.nodes[1].price = infinityPrice
	long := match{} // a match of niceLen or more found at position end
	for cur := 0; ; {
		if cur > 0 {
			p.settle(cur)
		}
		end = p.expand(cur, end, base)
		cur++
		if cur >= end {
			break
		}
		if cur >= optWindow {
			end = cur
			break
		}
		p.matches = p.mf.find(p.matches[:0])
		if k := len(p.matches); k > 0 && int(p.matches[k-1].len) >= nice {
			m := p.matches[k-1]
			pos := base + cur
			m.len = uint32(matchLen(buf, pos, pos-int(m.dist)-1, min(len(buf)-pos, maxMatchLen)))
			p.mf.skip(int(m.len) - 1)
			long, end = m, cur
			break
		}
	}
	// Walk back from the end and lay the path out forwards.
	n := 0
	for at := end; at > 0; at = int(p.nodes[at].prev) {
		n++
		if p.nodes[at].lit {
			n++
		}
	}
	for range n {
		p.plan = append(p.plan, match{})
	}
	i := len(p.plan) - 1
	for at := end; at > 0; at = int(p.nodes[at].prev) {
		nd := &p.nodes[at]
		p.plan[i] = match{len: nd.len, dist: nd.dist}
		i--
		if nd.lit {
			p.plan[i] = match{len: 1, dist: literalMark}
			i--
		}
	}
	if long.len != 0 {
		p.plan = append(p.plan, long)
	}
}

// expand prices every symbol from node cur (whose matches are in
// p.matches) and returns the new end of the reached positions.
func (p *optimalParser) expand(cur, end, base int) int {
	buf := p.c.buf
	m := &p.c.m
	nd := &p.nodes[cur]
	pos := base + cur
	avail := len(buf) - pos
	if avail <= 0 {
		return end
	}
	state, posState := nd.state, uint32(pos)&posMask
	price := nd.price
	matchPrice := price + price1(m.isMatch[state][posState])
	// Literal.
	var prev byte
	if pos > 0 {
		prev = buf[pos-1]
	}
	b := buf[pos]
	var mb byte
	matched := state >= 7
	rep0At := pos - int(nd.reps[0]) - 1
	if matched {
		mb = buf[rep0At]
	}
	litPrice := price + price0(m.isMatch[state][posState]) + literalPrice(m.litProbs(prev), b, matched, mb)
	p.reach(cur+1, litPrice, uint32(cur), 1, literalMark)
	repBase := matchPrice + price1(m.isRep[state])
	// A literal then a rep0 match: the literal breaks a match at rep0
	// that goes on after it.
	if rep0At >= 0 && buf[rep0At] != b && avail >= 3 {
		if n := repLen(buf, pos+1, nd.reps[0], min(avail-1, maxMatchLen)); n >= 2 {
			ls, ps := stateLiteral(state), uint32(pos+1)&posMask
			pr := litPrice + price1(m.isMatch[ls][ps]) + price1(m.isRep[ls]) +
				price0(m.isRepG0[ls]) + price1(m.isRep0Long[ls][ps]) + p.repLens.prices[ps][n-2]
			for end < cur+1+n {
				end++
				p.nodes[end].price = infinityPrice
			}
			if nd2 := &p.nodes[cur+1+n]; pr < nd2.price {
				nd2.price, nd2.prev, nd2.len, nd2.dist, nd2.lit = pr, uint32(cur), uint32(n), nd.reps[0], true
			}
		}
	}
	// Short rep.
	if rep0At >= 0 && buf[rep0At] == b {
		p.reach(cur+1, repBase+price0(m.isRepG0[state])+price0(m.isRep0Long[state][posState]), uint32(cur), 1, nd.reps[0])
	}
	if avail < 2 {
		return max(end, cur+1)
	}
	limit := min(avail, maxMatchLen)
	grow := func(to int) {
		for end < to {
			end++
			p.nodes[end].price = infinityPrice
		}
	}
	grow(cur + 1)
	start := 2
	for i, d := range nd.reps {
		n := repLen(buf, pos, d, limit)
		if n < 2 {
			continue
		}
		grow(cur + n)
		rp := repBase + p.repPrice(i, state, posState)
		lp := &p.repLens.prices[posState]
		for l := n; l >= 2; l-- {
			p.reach(cur+l, rp+lp[l-2], uint32(cur), uint32(l), d)
		}
		if i == 0 {
			start = n + 1
		}
	}
	ms := p.matches
	if len(ms) == 0 {
		return end
	}
	normal := matchPrice + price0(m.isRep[state])
	lp := &p.lens.prices[posState]
	l := start
	for _, mt := range ms {
		n := int(mt.len)
		if n < l {
			continue
		}
		grow(cur + n)
		// The distance's price depends on the length up to 5 only.
		for ; l <= n && l < minMatchLen+lenStates-1; l++ {
			p.reach(cur+l, normal+lp[l-2]+p.dists.price(mt.dist, uint32(l)), uint32(cur), uint32(l), mt.dist)
		}
		dp := normal + p.dists.price(mt.dist, minMatchLen+lenStates-1)
		for ; l <= n; l++ {
			p.reach(cur+l, dp+lp[l-2], uint32(cur), uint32(l), mt.dist)
		}
	}
	return end
}
