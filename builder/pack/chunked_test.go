package pack

import (
	"bytes"
	"testing"
)

// Filling the chunk in place through Space, as the tar writer does, gives
// the same bytes as Write with copies, whatever the pieces; a Write that
// does not come from Space is copied even right after a Space.
func TestChunkWriterSpace(t *testing.T) {
	c := mustCompression(t, "zstd-1")
	data := mixedData(2*zstdChunk + 5000)
	want := compress(t, c, 1, data, 1<<20)

	var buf bytes.Buffer
	w, err := NewCompressor(c, &buf, 2)
	if err != nil {
		t.Fatal(err)
	}
	cw := w.(*chunkWriter)
	rest := data
	for i := 0; len(rest) > 0; i++ {
		if i%3 == 2 {
			// Asked for space, but written from elsewhere.
			cw.Space()
			n := min(len(rest), 777)
			if _, err := cw.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
			continue
		}
		space := cw.Space()
		if len(space) == 0 {
			t.Fatal("Space returned no room")
		}
		n := copy(space[:min(len(space), 3<<20+i)], rest)
		if _, err := cw.Write(space[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("filled through Space: %d bytes that differ from Write's %d", buf.Len(), len(want))
	}
}
