package pack

import (
	"crypto/sha256"
	"fmt"
	"math/rand"
	"testing"
)

func TestScratchZstdChunkedBig(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	base := make([]byte, 4<<20)
	words := []string{"the ", "lorem ", "ipsum ", "\n", "dolor ", "sit ", "amet ", "0000", "usr/lib/", ".so.1 "}
	for i := 0; i < len(base); {
		i += copy(base[i:], words[rng.Intn(len(words))])
	}
	for _, lvl := range []string{"zstd-3", "zstd-7"} {
		var sums []string
		for _, thr := range []int{1, 3} {
			h := sha256.New()
			z, _ := NewCompressor(mustCompression(t, lvl), h, thr)
			r := rand.New(rand.NewSource(3))
			total := 0
			for total < 2600<<20 {
				o := r.Intn(len(base) - 70000)
				n := 1000 + r.Intn(60000)
				z.Write(base[o : o+n])
				total += n
			}
			if err := z.Close(); err != nil {
				t.Fatal(err)
			}
			sums = append(sums, fmt.Sprintf("%x", h.Sum(nil)[:6]))
		}
		t.Logf("%s sums=%v", lvl, sums)
	}
}
