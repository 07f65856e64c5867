package pack

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
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
//   - xz: independent xz streams of 3 × the preset's dictionary (what
//     xz -T uses as its block size), concatenated (xz -d reads
//     concatenated streams).
//   - none: the tar stream itself.

// gzipBlock is pgzip's block size. Changing it changes every gzip image.
const gzipBlock = 1 << 20

// zstdChunk is the input size of one zstd frame. Changing it changes
// every zstd image. 16 MiB is two windows of klauspost's encoder: the
// ratio is within 0.6% of one frame for the whole stream (and still
// better than zstd -3), and workers+2 chunks stay ~100 MiB for 2 threads.
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
	// The library's own stream concurrency is not used: its stream mode
	// is reproducible but runs at most two goroutines, and its
	// WithConcurrentBlocks mode is switched off at one thread, so its
	// output would differ between threads=1 and threads>1.
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
	return newChunkWriter(w, zstdChunk, threads, compress), nil
}

// xzDict is the dictionary size of xz's presets 0-9 (xz(1), "Presets").
func xzDict(level int) int {
	return [...]int{256 << 10, 1 << 20, 2 << 20, 4 << 20, 4 << 20, 8 << 20, 8 << 20, 16 << 20, 32 << 20, 64 << 20}[level]
}

// xzChunk is the input size of one xz stream at a level: three
// dictionaries, at least 1 MiB, as xz -T sizes its blocks. Changing it
// changes every xz image.
func xzChunk(level int) int { return max(3*xzDict(level), 1<<20) }

// xzPiece is how much of a chunk is fed to the encoder between checks
// for an abort.
const xzPiece = 1 << 20

func newXz(w io.Writer, level, threads int) (io.WriteCloser, error) {
	cfg := xz.WriterConfig{
		// xz's own defaults: lc=3 lp=0 pb=2, CRC64.
		Properties: &lzma.Properties{LC: 3, LP: 0, PB: 2},
		DictCap:    xzDict(level),
		CheckSum:   xz.CRC64,
		// HashTable4, not BinaryTree: on a rootfs sample the binary
		// tree gave 10% larger output at 15× the time (ulikunitz/xz
		// lists "fix binary tree matcher" as future work). HashTable4
		// comes within ~1-2% of xz -6. The encoder has no other effort
		// setting, so levels differ by dictionary size only.
		Matcher: lzma.HashTable4,
	}
	if err := cfg.Verify(); err != nil {
		return nil, fmt.Errorf("starting xz: %w", err)
	}
	compress := func(dst, src []byte, stop <-chan struct{}) ([]byte, error) {
		buf := bytes.NewBuffer(dst[:0])
		zw, err := cfg.NewWriter(buf)
		if err != nil {
			return nil, fmt.Errorf("starting xz: %w", err)
		}
		for len(src) > 0 {
			select {
			case <-stop:
				return nil, errAborted
			default:
			}
			n := min(len(src), xzPiece)
			if _, err := zw.Write(src[:n]); err != nil {
				return nil, fmt.Errorf("xz: %w", err)
			}
			src = src[n:]
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		return buf.Bytes(), nil
	}
	return newChunkWriter(w, xzChunk(level), threads, compress), nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
