package xz

import "errors"

// LZMA2 cuts the LZMA stream of a block into chunks a decoder can take
// one by one: at most 2 MiB of input and 64 KiB of output each, each
// with a fresh range coder; a chunk that did not shrink goes out stored.

const (
	lzma2MaxIn     = 2 << 20
	lzma2MaxOut    = 64 << 10
	lzma2MaxStored = 64 << 10
	// symbolMaxOut bounds the bytes one symbol can add to a chunk (a
	// match at the least likely probabilities costs under 40), so that
	// checking before each symbol keeps a chunk within lzma2MaxOut.
	symbolMaxOut = 64
	// stopEvery is how much input is coded between looks at the stop
	// channel.
	stopEvery  = 1 << 20
	lzma2Props = lc + 9*0 + 9*5*pb // lc + 9*(lp + 5*pb), xz's property byte
)

// ErrAborted is returned when the stop channel closed mid-block.
var ErrAborted = errors.New("xz: compression aborted")

// parser chooses the symbols of a chunk one at a time, for the coder's
// current position and state.
type parser interface {
	// next returns the length and 0-based distance (literalMark for a
	// literal) of the symbol at the coder's position.
	next() (n, dist uint32)
	// stateReset tells the parser the model was reset: what it cached
	// of the probabilities is stale.
	stateReset()
	// chunkEnd tells it whether the chunk just coded went out stored.
	chunkEnd(stored bool)
}

// appendLZMA2 codes c.buf whole as LZMA2 data, end marker included.
func appendLZMA2(dst []byte, c *lzmaCoder, p parser, chunk []byte, stop <-chan struct{}) ([]byte, []byte, error) {
	needProps, needDictReset, needStateReset := true, true, true
	nextStop := 0
	for c.pos < len(c.buf) {
		if needStateReset {
			c.resetState()
			p.stateReset()
		}
		start := c.pos
		c.rc.reset(chunk[:0])
		inLimit := min(len(c.buf), start+lzma2MaxIn-maxMatchLen)
		for c.pos < len(c.buf) && c.pos <= inLimit && c.rc.pending() <= lzma2MaxOut-symbolMaxOut {
			if c.pos >= nextStop {
				select {
				case <-stop:
					return dst, chunk, ErrAborted
				default:
				}
				nextStop = c.pos + stopEvery
			}
			c.encode(p.next())
		}
		c.rc.flush()
		chunk = c.rc.out
		in, out := c.pos-start, len(chunk)
		p.chunkEnd(out >= in)
		if out >= in {
			// Stored: the decoder keeps its state through it, but
			// the encoder's model has moved on, so the next LZMA
			// chunk resets both.
			for s := start; s < c.pos; s += lzma2MaxStored {
				e := min(s+lzma2MaxStored, c.pos)
				ctl := byte(2)
				if needDictReset {
					ctl = 1
				}
				needDictReset = false
				dst = append(dst, ctl, byte((e-s-1)>>8), byte(e-s-1))
				dst = append(dst, c.buf[s:e]...)
			}
			needStateReset = true
			continue
		}
		ctl := byte(0x80)
		switch {
		case needDictReset:
			ctl = 0xE0
		case needProps:
			ctl = 0xC0
		case needStateReset:
			ctl = 0xA0
		}
		u, k := in-1, out-1
		dst = append(dst, ctl|byte(u>>16), byte(u>>8), byte(u), byte(k>>8), byte(k))
		if ctl >= 0xC0 {
			dst = append(dst, lzma2Props)
		}
		dst = append(dst, chunk...)
		needProps, needDictReset, needStateReset = false, false, false
	}
	return append(dst, 0), chunk, nil
}
