package pack

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Output buffers live outside Go's heap, in anonymous mappings whose
// written pages are handed back to the kernel each time a buffer is
// reused. A buffer must hold an incompressible chunk (xz -6: 24.4 MiB),
// but a chunk of a rootfs usually compresses to a third of that: on the
// heap, a reused buffer kept every page it had ever written resident,
// and the collector counted all of it, so peak RSS followed the worst
// chunk seen rather than the chunks in flight (xz -6 on the reference
// rootfs: 316 MiB, over the 256 MiB target).

// newOutBuf returns an empty buffer of capacity c.outCap, mapped when
// the kernel allows it, else from the heap.
func (c *chunkWriter) newOutBuf() []byte {
	b, err := unix.Mmap(-1, 0, c.outCap, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return make([]byte, 0, c.outCap)
	}
	c.mapped = append(c.mapped, b) // the caller holds outMu
	return b[:0]
}

// recycle keeps a written output buffer for reuse, its pages released.
// A buffer that is not one of the mappings (the heap fallback, or one
// the compressor outgrew and append moved) is left to the collector.
func (c *chunkWriter) recycle(out []byte) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if !c.isMapped(out) || len(c.outs) >= cap(c.free) {
		return
	}
	if len(out) > 0 {
		// Advice only: if it fails the pages stay resident, as on
		// the heap.
		_ = unix.Madvise(out, unix.MADV_DONTNEED)
	}
	c.outs = append(c.outs, out[:0])
}

func (c *chunkWriter) isMapped(b []byte) bool {
	if cap(b) == 0 {
		return false
	}
	start := unsafe.SliceData(b[:1])
	for _, m := range c.mapped {
		if unsafe.SliceData(m) == start {
			return true
		}
	}
	return false
}

// unmapOutBufs releases every mapping once no goroutine can hold one:
// finish calls it after the workers and the writer have returned.
func (c *chunkWriter) unmapOutBufs() {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	for _, m := range c.mapped {
		_ = unix.Munmap(m)
	}
	c.mapped = nil
}
