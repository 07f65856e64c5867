package pack

import (
	"runtime/debug"
	"strings"
)

// GCPercent is the GOGC builder packs with (TuneGC); Go's default is 100.
//
// Why lower: packing's live heap is mostly a fixed set of large
// pointer-free buffers (input chunks, compressed chunks, the encoders'
// tables), reused for the whole pass; the garbage is small and steady
// (headers, names, file handles: about 1.3 KB an archived entry). At
// GOGC=100 that garbage may grow the heap to twice the live set before
// a collection, so the peak RSS depended on how much garbage the tree
// made before the pass ended, that is on its size: `builder pack`
// with zstd-3 peaked at 181 MiB on the 0.22 GiB reference rootfs and
// 205-221 MiB on the 1.09 GiB one. At 10 the heap stays within a tenth
// above the live set: 182-193 MiB there, 17 collections instead of 5,
// their CPU under 1% (marking skips pointer-free buffers, however large).
// A memory limit (GOMEMLIMIT) was measured too: no fixed limit fits
// every compressor and level (xz-9's chunks alone are 192 MiB), and one
// below the live set makes the collector run continuously (zstd-3 at
// 160 MiB: 351 collections, 8% of the CPU); a percentage scales.
const GCPercent = 10

// TuneGC sets GCPercent for a packing command unless the environment
// sets GOGC (the user's choice wins), and returns the function that
// restores the previous setting.
func TuneGC(environ []string) (restore func()) {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOGC=") {
			return func() {}
		}
	}
	old := debug.SetGCPercent(GCPercent)
	return func() { debug.SetGCPercent(old) }
}
