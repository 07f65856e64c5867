package xz

import (
	"math"
	"math/bits"
)

// Prices are costs in 1/16 bit, what the optimal parser adds up to
// compare ways of coding the same bytes.

const (
	priceShift    = 4 // probabilities are looked up by their top 7 bits
	priceFraction = 16
	infinityPrice = 1 << 30
)

// probPrices[p>>priceShift] is the cost of a bit coded with probability
// p/2048: -log2 at the middle of the bucket.
var probPrices = func() (t [1 << (probBits - priceShift)]uint32) {
	for i := range t {
		p := (float64(i<<priceShift) + float64(1<<priceShift)/2) / (1 << probBits)
		t[i] = uint32(math.Round(-math.Log2(p) * priceFraction))
	}
	return t
}()

func leadingZeros32(v uint32) int { return bits.LeadingZeros32(v) }

func price0(p prob) uint32 { return probPrices[p>>priceShift] }
func price1(p prob) uint32 { return probPrices[(1<<probBits-p)>>priceShift] }

func priceBit(p prob, b uint32) uint32 {
	if b == 0 {
		return price0(p)
	}
	return price1(p)
}

func treePrice(probs []prob, v uint32, n int) uint32 {
	var sum uint32
	m := uint32(1)
	for i := n - 1; i >= 0; i-- {
		b := (v >> uint(i)) & 1
		sum += priceBit(probs[m], b)
		m = m<<1 | b
	}
	return sum
}

func reverseTreePrice(probs []prob, v uint32, n int) uint32 {
	var sum uint32
	m := uint32(1)
	for range n {
		b := v & 1
		v >>= 1
		sum += priceBit(probs[m], b)
		m = m<<1 | b
	}
	return sum
}

func literalPrice(probs []prob, b byte, matched bool, match byte) uint32 {
	var sum uint32
	sym := uint32(b) | 0x100
	if !matched {
		for sym < 0x10000 {
			sum += priceBit(probs[sym>>8], (sym>>7)&1)
			sym <<= 1
		}
		return sum
	}
	offs := uint32(0x100)
	mb := uint32(match)
	for sym < 0x10000 {
		mb <<= 1
		sum += priceBit(probs[offs+(mb&offs)+(sym>>8)], (sym>>7)&1)
		sym <<= 1
		offs &= ^(mb ^ sym)
	}
	return sum
}

// lenPrices caches the price of every length per position state.
type lenPrices struct {
	prices  [posStates][maxMatchLen + 1 - minMatchLen]uint32
	counter [posStates]int
}

func (lp *lenPrices) update(l *lenModel, posState uint32) {
	p := &lp.prices[posState]
	c0, c1 := price0(l.choice), price1(l.choice)
	c10, c11 := c1+price0(l.choice2), c1+price1(l.choice2)
	for i := range p {
		n := uint32(i)
		switch {
		case n < lenLowSyms:
			p[i] = c0 + treePrice(l.low[posState][:], n, 3)
		case n < lenLowSyms+lenMidSyms:
			p[i] = c10 + treePrice(l.mid[posState][:], n-lenLowSyms, 3)
		default:
			p[i] = c11 + treePrice(l.high[:], n-lenLowSyms-lenMidSyms, 8)
		}
	}
}

// distPrices caches the price of every distance slot and of the small
// distances per length state, and of the low four bits of big ones.
type distPrices struct {
	slot  [lenStates][distSlots]uint32
	small [lenStates][fullDists]uint32
	align [alignSize]uint32
}

func (dp *distPrices) update(m *model, distSlotsUsed uint32) {
	for ls := range lenStates {
		for s := uint32(0); s < distSlotsUsed; s++ {
			p := treePrice(m.distSlot[ls][:], s, 6)
			if s >= endPosModel {
				p += uint32((int(s>>1) - 1 - alignBits) * priceFraction)
			}
			dp.slot[ls][s] = p
		}
		for d := uint32(0); d < 4; d++ {
			dp.small[ls][d] = dp.slot[ls][d]
		}
	}
	for d := uint32(4); d < fullDists; d++ {
		slot := distSlotOf(d)
		footer := int(slot>>1) - 1
		base := (2 | slot&1) << uint(footer)
		p := reverseTreePrice(m.distSpecial[base-slot:], d-base, footer)
		for ls := range lenStates {
			dp.small[ls][d] = dp.slot[ls][slot] + p
		}
	}
	for i := range uint32(alignSize) {
		dp.align[i] = reverseTreePrice(m.align[:], i, alignBits)
	}
}

// price of a 0-based distance d for a match of length n.
func (dp *distPrices) price(d, n uint32) uint32 {
	ls := lenState(n)
	if d < fullDists {
		return dp.small[ls][d]
	}
	return dp.slot[ls][distSlotOf(d)] + dp.align[d&(alignSize-1)]
}
