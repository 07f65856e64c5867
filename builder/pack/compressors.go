package pack

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/builder-images/builder/builder/pack/xz"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// The compressors, one per Algorithm in the table, chosen by name. Every
// one gives the same bytes for the same input and level whatever the
// thread count: parallelism only ever splits the input at fixed offsets
// that depend on the level, never on the machine.
//
//   - gzip: pgzip, one gzip member of 1 MiB deflate blocks, each
//     deflated with the previous block's last 16 KiB as dictionary.
//     The block size is set here rather than left to the library's
//     default, so that an update cannot change it silently; threads
//     only sets how many blocks are deflated at once (checked: the
//     same bytes for 1 to 8 threads and any Write sizes).
//   - zstd: independent frames of zstdChunk bytes, each made by
//     EncodeAll, concatenated (zstd -d reads concatenated frames).
//   - xz: builder's own encoder (package xz): one xz stream, one block
//     per chunk of 2 × the level's dictionary (xz -T uses 3: see
//     xz.ChunkSize for why not), each compressed on its own by one of the workers'
//     encoders (kept and reused: no allocation per chunk), with both
//     sizes in the block header as xz -T writes them; the stream header
//     goes before the first block and the index and footer after the
//     last (chunkFraming). Levels 4-9 parse optimally over a binary
//     tree (bt4), 0-3 lazily over a hash chain (hc4); at the default
//     level 6, on 24 MiB pieces of the reference rootfs tar, the output
//     is 1.2-3.1% larger than xz -6's in 0.7-0.8× its CPU time
//     (single thread; on already compressed data, the same size in
//     about the same time). ulikunitz/xz's writer, used before, was
//     greedy over a hash chain: +20% over xz -6 on a Debian rootfs,
//     and its BinaryTree matcher was 10% larger still at 15× the time.
//     Memory: one encoder per worker, 81 MiB at level 6 (bt4's trees
//     over the 8 MiB dictionary), reused for every chunk.
//   - none: the tar stream itself.

// gzipBlock is pgzip's block size. Changing it changes every gzip image.
const gzipBlock = 1 << 20

// zstdChunk is the input size of one zstd frame. Changing it changes
// every zstd image. 16 MiB is two windows of klauspost's encoder: on
// 256 MiB of /usr the frames came out 0.6% larger than one frame for the
// whole stream (8 MiB: 1.1%) and still 2% smaller than zstd -3. Memory is
// threads+2 input chunks, threads+1 output buffers and one ~18 MiB
// encoder per thread: 155 MiB peak RSS with 2 threads.
const zstdChunk = 16 << 20

// compressorFor returns the constructor for an algorithm name; a switch
// rather than a map so that nothing can add to it at run time.
func compressorFor(name string) func(w io.Writer, level, threads int) (io.WriteCloser, error) {
	switch name {
	case "gzip":
		return newGzip
	case "zstd":
		return newZstd
	case "xz":
		return newXz
	case "none":
		return func(w io.Writer, _, _ int) (io.WriteCloser, error) { return nopWriteCloser{w}, nil }
	}
	return nil
}

// NewCompressor returns a writer that compresses with c to w using up to
// threads goroutines (0 or less: GOMAXPROCS). Close flushes it; it never
// closes w. The output is the same for any threads.
func NewCompressor(c Compression, w io.Writer, threads int) (io.WriteCloser, error) {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	a := c.Algorithm
	if a.MaxLevel != 0 && (c.Level < a.MinLevel || c.Level > a.MaxLevel) {
		return nil, fmt.Errorf("%s level must be from %d to %d, not %d", a.Name, a.MinLevel, a.MaxLevel, c.Level)
	}
	newWriter := compressorFor(a.Name)
	if newWriter == nil {
		return nil, fmt.Errorf("no compressor for %q", a.Name)
	}
	return newWriter(w, c.Level, threads)
}

func newGzip(w io.Writer, level, threads int) (io.WriteCloser, error) {
	z, err := pgzip.NewWriterLevel(w, level)
	if err != nil {
		return nil, fmt.Errorf("starting gzip: %w", err)
	}
	// The block size decides the bytes; threads only how many blocks
	// are deflated at once.
	if err := z.SetConcurrency(gzipBlock, threads); err != nil {
		return nil, fmt.Errorf("starting gzip: %w", err)
	}
	// pgzip writes ModTime.Unix() unchecked, so its zero Time would
	// give a garbage MTIME; 0 means "no time" in gzip. OS 3 (Unix) is
	// what gzip and pigz write.
	z.ModTime = time.Unix(0, 0)
	z.OS = 3
	return z, nil
}

// zstdLevel maps zstd's 1-22 onto klauspost's four encoders, as
// zstd.EncoderLevelFromZstd does: 1 fastest, 2-5 default (≈ zstd -3),
// 6-10 better (≈ -7), 11-22 best (≈ -11).
func zstdLevel(level int) zstd.EncoderLevel { return zstd.EncoderLevelFromZstd(level) }

func newZstd(w io.Writer, level, threads int) (io.WriteCloser, error) {
	// One encoder per worker; EncodeAll is safe for concurrent use.
	// The library's own stream concurrency is not used. Its stream mode
	// gives the same bytes for 1-8 threads but overlaps only match
	// finding and entropy coding (two goroutines) and ran at a third of
	// EncodeAll's single-thread speed. Its WithConcurrentBlocks jobs give
	// the same bytes for 2-8 threads (checked up to 2.6 GiB), but the
	// library switches them off at one thread, so threads=1 would give
	// other bytes. Independent frames are reproducible by construction.
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstdLevel(level)),
		zstd.WithEncoderConcurrency(threads),
		zstd.WithEncoderCRC(true),
	)
	if err != nil {
		return nil, fmt.Errorf("starting zstd: %w", err)
	}
	compress := func(dst, src []byte, _ <-chan struct{}) ([]byte, error) {
		return enc.EncodeAll(src, dst), nil
	}
	// EncodeAll appends to dst in one piece per block: room for an
	// incompressible chunk means it never reallocates.
	return newChunkWriter(w, zstdChunk, zstdChunk+zstdChunk/64+64<<10, threads, compress), nil
}

// xzChunk is the input size of one xz block at a level.
func xzChunk(level int) int { return xz.ChunkSize(level) }

func newXz(w io.Writer, level, threads int) (io.WriteCloser, error) {
	if _, err := xz.NewEncoder(level); err != nil {
		return nil, fmt.Errorf("starting xz: %w", err)
	}
	// One encoder per worker at most, made when first needed and
	// reused for every chunk after: its tables are most of its memory.
	encoders := make(chan *xz.Encoder, threads)
	compress := func(dst, src []byte, stop <-chan struct{}) ([]byte, error) {
		var e *xz.Encoder
		select {
		case e = <-encoders:
		default:
			e, _ = xz.NewEncoder(level) // the level was checked above
		}
		out, _, err := e.AppendBlock(dst[:0], src, stop)
		encoders <- e
		if errors.Is(err, xz.ErrAborted) {
			return nil, errAborted
		}
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		return out, nil
	}
	var records []xz.Record
	frame := &chunkFraming{
		head: xz.StreamHeader(),
		note: func(out []byte, n int) error {
			if n == 0 {
				return nil // the empty input's chunk: no block
			}
			r, err := xz.BlockRecord(out)
			records = append(records, r)
			return err
		},
		tail: func() []byte { return xz.AppendTrailer(nil, records) },
	}
	// Output buffers hold an incompressible chunk (stored LZMA2 chunks
	// add 3 bytes in 64 KiB), so appending never reallocates one. At half
	// a chunk, as before, the reference rootfs's compressed files made
	// them grow: each growth left the old one as garbage and the pool kept
	// the grown one, and `builder pack` peaked at 372 MiB. They are mapped
	// outside the heap and release their pages on reuse (outbuf.go), so
	// only what chunks in flight compress to counts in RSS.
	cw := newFramedChunkWriter(w, xzChunk(level), xzChunk(level)+xzChunk(level)/64+64<<10, threads, compress, frame)
	// A chunk compresses in seconds and fills in a fraction of one: a
	// chunk filling while every worker is busy would only cost memory
	// (16 MiB at -6, 128 MiB at -9), so a worker that is done waits
	// for its next chunk to be filled instead.
	cw.limitInputs(threads)
	return cw, nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
