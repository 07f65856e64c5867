// Package xz is builder's own xz encoder: LZMA2 in the .xz container,
// one block per independently compressed chunk, written so that the
// bytes depend on the input and the level alone.
package xz

// match is a candidate for the bytes at the current position: len bytes
// equal to the bytes dist+1 back (dist 0 is the previous byte, as LZMA
// codes distances).
type match struct {
	len  uint32
	dist uint32
}

// matchFinder indexes one chunk held whole in memory and reports, at each
// position in turn, the matches the parser may choose from.
//
// The contract both finders (hc4.go, bt4.go) and every parser rely on:
//   - find appends to dst the matches at the current position in strictly
//     increasing len, each at the nearest dist for that len, len >= 2,
//     dist < dictSize, never past the end of buf; then moves one position
//     on. It stops searching once a match of niceLen is found (the parser
//     extends that one itself, up to 273 bytes).
//   - skip moves n positions on, indexing them as find would.
//   - reset starts again on a new buffer, reusing its tables when they are
//     large enough, so a worker allocates once for all its chunks.
type matchFinder interface {
	// reset starts on buf, finding matches up to dictSize back and
	// niceLen long, looking at no more than depth candidates per
	// position (0: the finder's default for niceLen).
	reset(buf []byte, dictSize, niceLen, depth int)
	find(dst []match) []match
	skip(n int)
	// pos is the current position in buf.
	pos() int
}
