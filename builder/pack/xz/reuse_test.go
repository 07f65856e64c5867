package xz

import (
	"bytes"
	"fmt"
	"testing"
)

// A block's bytes depend on its input alone: an encoder that compressed
// other chunks before (larger, smaller, incompressible) gives the same
// block as a new one. This is what makes the pack layer's output
// independent of which worker's encoder took which chunk.
func TestBlockIndependentOfEarlierBlocks(t *testing.T) {
	s := samples()
	before := [][]byte{s["random"], s["zeros"][:1<<20], s["mixed"], s["two"]}
	blocks := [][]byte{s["text"][:50000], append(append([]byte(nil), s["random"][:70000]...), s["text"][:200000]...)}
	for _, level := range []int{0, 3, 4, 6} {
		for bi, b := range blocks {
			fresh, _ := NewEncoder(level)
			want, _, err := fresh.AppendBlock(nil, b, nil)
			if err != nil {
				t.Fatal(err)
			}
			e, _ := NewEncoder(level)
			for ai, a := range before {
				if _, _, err := e.AppendBlock(nil, a, nil); err != nil {
					t.Fatal(err)
				}
				got, _, err := e.AppendBlock(nil, b, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("level %d: block %d after input %d differs from a new encoder's", level, bi, ai)
				}
			}
		}
	}
}

// checkLZMA2 walks the LZMA2 chunks of every block of a stream that
// compress made and checks what a decoder requires of their control
// bytes: a dictionary reset first, properties (xz's lc=3 lp=0 pb=2)
// before the first LZMA chunk after a dictionary reset, an end marker
// last, and chunk sizes adding up to the block's.
func checkLZMA2(t *testing.T, stream []byte) {
	t.Helper()
	p := streamHeaderLen
	for stream[p] != 0 { // 0: the index
		rec, err := BlockRecord(stream[p:])
		if err != nil {
			t.Fatal(err)
		}
		hdr := int(stream[p]+1) * 4
		size := int(rec.Unpadded) - hdr - 8
		d := stream[p+hdr : p+hdr+size]
		total, needProps := 0, true
		for i := 0; ; {
			ctl := d[i]
			if ctl == 0 {
				if i != len(d)-1 {
					t.Fatalf("end marker at %d of %d bytes", i, len(d))
				}
				break
			}
			if i == 0 && ctl != 1 && ctl < 0xE0 {
				t.Fatalf("first chunk's control byte %#x resets no dictionary", ctl)
			}
			switch {
			case ctl == 1 || ctl == 2:
				needProps = needProps || ctl == 1
				n := int(d[i+1])<<8 | int(d[i+2]) + 1
				total += n
				i += 3 + n
				continue
			case ctl < 0x80:
				t.Fatalf("control byte %#x", ctl)
			case ctl >= 0xE0:
				needProps = true
			}
			if ctl < 0xC0 && needProps {
				t.Fatalf("control byte %#x: properties needed", ctl)
			}
			total += int(ctl&0x1F)<<16 | int(d[i+1])<<8 | int(d[i+2]) + 1
			k := int(d[i+3])<<8 | int(d[i+4]) + 1
			i += 5
			if ctl >= 0xC0 {
				if d[i] != lzma2Props {
					t.Fatalf("properties %#x", d[i])
				}
				needProps = false
				i++
			}
			i += k
		}
		if uint64(total) != rec.Uncompressed {
			t.Fatalf("chunks hold %d bytes, the block %d", total, rec.Uncompressed)
		}
		p += hdr + (size+3)&^3 + 8
	}
}

// Stored and LZMA chunks alternating within a block, at every level.
func TestStoredChunkTransitions(t *testing.T) {
	s := samples()
	var src []byte
	for i := range 4 {
		src = append(src, s["random"][i*1000:i*1000+70000+i*50000]...)
		src = append(src, s["text"][i*1000:i*1000+30000+i*20000]...)
	}
	for level := 0; level <= MaxLevel; level++ {
		t.Run(fmt.Sprint(level), func(t *testing.T) {
			out := compress(t, src, level, len(src))
			checkLZMA2(t, out)
			checkRoundTrip(t, out, src)
		})
	}
}
