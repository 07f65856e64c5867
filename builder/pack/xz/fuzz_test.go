package xz

import (
	"bytes"
	"testing"
)

// FuzzRoundTrip: whatever the input, level and block size, the stream
// decodes to the input.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{}, uint8(6), uint16(1))
	f.Add([]byte("a"), uint8(0), uint16(1))
	f.Add(bytes.Repeat([]byte("abcd"), 1000), uint8(6), uint16(7))
	f.Add([]byte("hello hello hello world, hello world"), uint8(3), uint16(100))
	f.Add(samples()["mixed"][:5000], uint8(9), uint16(4096))
	f.Fuzz(func(t *testing.T, src []byte, level uint8, chunk uint16) {
		lv := int(level) % (MaxLevel + 1)
		checkGoReader(t, compress(t, src, lv, max(int(chunk), 1)), src)
	})
}
