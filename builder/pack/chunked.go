package pack

import (
	"errors"
	"io"
	"sync"
)

// compressChunk compresses src on its own, appending a complete stream or
// frame to dst. It may return early with errAborted once stop is closed.
type compressChunk func(dst, src []byte, stop <-chan struct{}) ([]byte, error)

var errAborted = errors.New("compression aborted")

// chunkWriter compresses its input in fixed-size chunks, each on its own,
// on a pool of workers, and writes the results in input order. Output
// depends on the chunk size and the compress function alone, never on the
// number of workers or on how the input was split into Write calls: that
// is what makes parallel xz and zstd reproducible.
//
// Memory is bounded: at most workers+2 input chunks exist at once (one
// filling, up to workers queued or compressing, one being written), or
// fewer with limitInputs, plus their compressed output.
type chunkWriter struct {
	w        io.Writer
	size     int // input bytes per chunk
	outCap   int // capacity of a new output buffer
	compress compressChunk

	cur   []byte         // the chunk being filled
	work  chan *chunkJob // to the workers
	order chan *chunkJob // to the writer, in input order; its capacity bounds memory
	free  chan []byte    // input buffers to reuse
	made  int            // input buffers made so far
	limit int            // how many input buffers may be made
	stop  chan struct{}  // closed to abort
	wg    sync.WaitGroup // workers and writer
	once  sync.Once      // closes stop
	mu    sync.Mutex     // guards err
	err   error          // the first error, reported by Write and Close
	sent  bool           // a chunk was submitted
	done  bool           // Close or Abort ran
	outMu sync.Mutex     // guards outs and mapped
	outs  [][]byte       // output buffers to reuse
	// mapped are the output buffers mapped outside Go's heap (see
	// outbuf.go), unmapped by finish.
	mapped [][]byte
	frame  *chunkFraming // nil: the chunks' outputs alone
	head   bool          // frame.head was written
}

// chunkFraming puts the chunks' outputs in a container, as xz's one
// stream of blocks: head goes before the first chunk's output, note sees
// every chunk's output and input size in input order (to index them),
// and tail goes after the last at Close.
type chunkFraming struct {
	head []byte
	note func(out []byte, n int) error
	tail func() []byte
}

type chunkJob struct {
	src, out []byte
	n        int // len(src)
	err      error
	ready    chan struct{}
}

// newChunkWriter starts workers compressing chunks of size bytes. outCap
// sizes new output buffers: big enough for a typical compressed chunk
// that compressing rarely grows (and so reallocates) one.
func newChunkWriter(w io.Writer, size, outCap, workers int, compress compressChunk) *chunkWriter {
	return newFramedChunkWriter(w, size, outCap, workers, compress, nil)
}

// newFramedChunkWriter is newChunkWriter with the outputs framed by frame.
func newFramedChunkWriter(w io.Writer, size, outCap, workers int, compress compressChunk, frame *chunkFraming) *chunkWriter {
	c := &chunkWriter{
		w: w, size: size, outCap: outCap, compress: compress, frame: frame,
		work:  make(chan *chunkJob, workers),
		order: make(chan *chunkJob, workers),
		free:  make(chan []byte, workers+2),
		limit: workers + 2,
		stop:  make(chan struct{}),
	}
	c.wg.Add(workers + 1)
	for range workers {
		go c.worker()
	}
	go c.writer()
	return c
}

func (c *chunkWriter) worker() {
	defer c.wg.Done()
	for job := range c.work {
		select {
		case <-c.stop:
			job.err = errAborted
		default:
			job.out, job.err = c.compress(c.outBuf(), job.src, c.stop)
		}
		select {
		case c.free <- job.src[:0]:
		default:
		}
		job.src = nil
		close(job.ready)
	}
}

func (c *chunkWriter) writer() {
	defer c.wg.Done()
	for job := range c.order {
		<-job.ready
		if c.error() != nil {
			continue // drain after a failure
		}
		err := job.err
		if err == nil && c.frame != nil {
			err = c.framed(job)
		}
		if err == nil {
			_, err = c.w.Write(job.out)
		}
		if err != nil {
			c.fail(err)
			continue
		}
		c.recycle(job.out)
	}
}

// framed writes the frame's head before the first chunk and notes each.
func (c *chunkWriter) framed(job *chunkJob) error {
	if !c.head {
		c.head = true
		if _, err := c.w.Write(c.frame.head); err != nil {
			return err
		}
	}
	return c.frame.note(job.out, job.n)
}

func (c *chunkWriter) outBuf() []byte {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if n := len(c.outs); n > 0 {
		b := c.outs[n-1]
		c.outs = c.outs[:n-1]
		return b
	}
	// Growing by append's doubling from nothing left more garbage than
	// data (+90 MiB RSS for zstd-3 on two threads).
	return c.newOutBuf()
}

func (c *chunkWriter) error() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// fail records the first error and stops the workers.
func (c *chunkWriter) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.once.Do(func() { close(c.stop) })
}

// Write buffers p and hands every full chunk to the workers.
func (c *chunkWriter) Write(p []byte) (int, error) {
	if c.done {
		return 0, errors.New("write to a closed compressor")
	}
	n := 0
	for len(p) > 0 {
		if err := c.error(); err != nil {
			return n, err
		}
		c.fill()
		dst := c.cur[len(c.cur):c.size]
		var k int
		if &dst[0] == &p[0] {
			k = min(len(dst), len(p)) // filled in place through Space
		} else {
			k = copy(dst, p)
		}
		c.cur = c.cur[:len(c.cur)+k]
		p, n = p[k:], n+k
		if len(c.cur) == c.size {
			c.submit()
		}
	}
	return n, c.error()
}

// Space returns the free part of the chunk being filled, never empty, so
// that a file can be read straight into it: Write of a prefix of it then
// takes those bytes without copying them. It is valid until the next
// Write. This saves the copy through a buffer per input byte (the tar
// writer reads each file into Space).
func (c *chunkWriter) Space() []byte {
	c.fill()
	return c.cur[len(c.cur):c.size]
}

// limitInputs lowers the number of input chunks that may exist at once
// to n (from workers+2; at least workers). Call it before the first
// Write. Once n exist, the next chunk is filled only when a worker is
// done with one: worth it when compressing a chunk takes far longer than
// filling one (xz: seconds against a fraction of a second) and a chunk
// is large (xz -6: 16 MiB a chunk). At n = workers, a worker that is
// done waits while its next chunk is filled.
func (c *chunkWriter) limitInputs(n int) {
	c.limit = max(min(n, cap(c.free)), cap(c.work))
}

// fill makes sure there is a chunk being filled: a free buffer, a new
// one while fewer than c.limit exist, else the next one a worker frees.
func (c *chunkWriter) fill() {
	if c.cur != nil {
		return
	}
	select {
	case c.cur = <-c.free:
		return
	default:
	}
	if c.made < c.limit {
		c.made++
		c.cur = make([]byte, 0, c.size)
		return
	}
	// Every buffer made is in a submitted job, and each job's buffer is
	// returned to free (whose capacity holds them all) once compressed
	// or aborted.
	select {
	case c.cur = <-c.free:
	case <-c.stop:
		// The writer failed, which the next Write reports; Space still
		// needs a buffer to lend until then.
		c.cur = make([]byte, 0, c.size)
	}
}

// submit queues the current chunk; it blocks while workers+1 chunks are
// already waiting, which is what bounds memory.
func (c *chunkWriter) submit() {
	job := &chunkJob{src: c.cur, n: len(c.cur), ready: make(chan struct{})}
	c.cur, c.sent = nil, true
	select {
	case c.order <- job:
	case <-c.stop:
		return
	}
	c.work <- job // never blocks for long: workers drain it even when stopped
}

// Close compresses what is left and waits for every chunk to be written.
// An empty input still gives one (empty) stream, so the file is valid.
func (c *chunkWriter) Close() error {
	if c.done {
		return c.error()
	}
	if c.error() == nil && (len(c.cur) > 0 || !c.sent) {
		if c.cur == nil {
			c.cur = []byte{}
		}
		c.submit()
	}
	c.finish()
	if err := c.error(); err != nil || c.frame == nil {
		return err
	}
	if _, err := c.w.Write(c.frame.tail()); err != nil {
		c.fail(err)
	}
	return c.error()
}

// Abort stops the workers as soon as they can and waits for them; the
// output is incomplete.
func (c *chunkWriter) Abort() {
	if c.done {
		return
	}
	c.fail(errAborted)
	c.finish()
}

func (c *chunkWriter) finish() {
	c.done = true
	close(c.order)
	close(c.work)
	c.wg.Wait()
	c.cur, c.outs = nil, nil
	c.unmapOutBufs()
}
