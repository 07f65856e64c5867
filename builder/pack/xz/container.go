package xz

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/crc64"
)

// The .xz container (xz-file-format 1.2.1): a stream header, the
// blocks, an index of every block's sizes and a footer. Each block header
// states both sizes, as xz -T writes them, so that a decoder can split
// the work between threads.

var streamMagic = []byte{0xFD, '7', 'z', 'X', 'Z', 0x00}

const (
	checkCRC64  = 0x04
	filterLZMA2 = 0x21
	// blockHeaderRoom holds our block headers: 2 bytes, two varints of
	// at most 9, 3 of filter flags, padding and the CRC32.
	blockHeaderRoom = 40
	streamHeaderLen = 12
)

// StreamHeader is the 12 bytes a stream starts with: magic, flags
// (CRC64 checks) and their CRC32.
func StreamHeader() []byte {
	h := append([]byte(nil), streamMagic...)
	flags := []byte{0, checkCRC64}
	h = append(h, flags...)
	return binary.LittleEndian.AppendUint32(h, crc32.ChecksumIEEE(flags))
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// dictSizeByte is LZMA2's one-byte dictionary size: the smallest
// 2^n or 3·2^(n-1) that holds size.
func dictSizeByte(size int) byte {
	for b := 0; b < 40; b++ {
		if (2|b&1)<<(b/2+11) >= size {
			return byte(b)
		}
	}
	return 40
}

// appendBlockHeader appends the header of a block whose LZMA2 data is
// compressed bytes long and stands for uncompressed bytes.
func appendBlockHeader(dst []byte, compressed, uncompressed, dictSize int) []byte {
	start := len(dst)
	dst = append(dst, 0, 0x40|0x80) // size, filled below; one filter, both sizes
	dst = appendVarint(dst, uint64(compressed))
	dst = appendVarint(dst, uint64(uncompressed))
	dst = append(dst, filterLZMA2, 1, dictSizeByte(dictSize))
	for (len(dst)-start)%4 != 0 {
		dst = append(dst, 0)
	}
	dst[start] = byte((len(dst)-start+4)/4 - 1)
	return binary.LittleEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
}

// Record is one block's entry in the index: its unpadded size (header,
// data and check, without the padding) and its uncompressed size.
type Record struct {
	Unpadded, Uncompressed uint64
}

// AppendTrailer appends the index of the blocks and the stream footer.
func AppendTrailer(dst []byte, records []Record) []byte {
	start := len(dst)
	dst = append(dst, 0)
	dst = appendVarint(dst, uint64(len(records)))
	for _, r := range records {
		dst = appendVarint(dst, r.Unpadded)
		dst = appendVarint(dst, r.Uncompressed)
	}
	for (len(dst)-start)%4 != 0 {
		dst = append(dst, 0)
	}
	dst = binary.LittleEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:]))
	indexLen := len(dst) - start
	var f [6]byte
	binary.LittleEndian.PutUint32(f[:], uint32(indexLen/4-1))
	f[5] = checkCRC64
	dst = binary.LittleEndian.AppendUint32(dst, crc32.ChecksumIEEE(f[:]))
	dst = append(dst, f[:]...)
	return append(dst, 'Y', 'Z')
}

var crc64Table = crc64.MakeTable(crc64.ECMA)

// appendBlock frames the LZMA2 data at dst[dataStart:] as a block: it
// writes the header in front (moving the data after it), pads the data
// to four bytes and appends the CRC64 of src.
func appendBlock(dst []byte, blockStart, dataStart int, src []byte, dictSize int) ([]byte, Record) {
	data := len(dst) - dataStart
	var hdr [blockHeaderRoom]byte
	h := appendBlockHeader(hdr[:0], data, len(src), dictSize)
	copy(dst[blockStart+len(h):], dst[dataStart:])
	copy(dst[blockStart:], h)
	dst = dst[:blockStart+len(h)+data]
	for n := data; n%4 != 0; n++ {
		dst = append(dst, 0)
	}
	dst = binary.LittleEndian.AppendUint64(dst, crc64.Checksum(src, crc64Table))
	return dst, Record{Unpadded: uint64(len(h) + data + 8), Uncompressed: uint64(len(src))}
}

// BlockRecord reads the index record back from a block AppendBlock made
// (the container's writer sees blocks, not their records).
func BlockRecord(block []byte) (Record, error) {
	if len(block) < 12 {
		return Record{}, fmt.Errorf("xz: block of %d bytes too short", len(block))
	}
	// The size byte is widened before adding: 255 means a 1024-byte
	// header, not 0.
	hdr := (int(block[0]) + 1) * 4
	if hdr > len(block) {
		return Record{}, fmt.Errorf("xz: block of %d bytes shorter than its %d-byte header", len(block), hdr)
	}
	compressed, n := binary.Uvarint(block[2:hdr])
	if n <= 0 {
		return Record{}, errors.New("xz: block header without a compressed size")
	}
	uncompressed, m := binary.Uvarint(block[2+n : hdr])
	if m <= 0 {
		return Record{}, errors.New("xz: block header without an uncompressed size")
	}
	return Record{Unpadded: uint64(hdr) + compressed + 8, Uncompressed: uncompressed}, nil
}
