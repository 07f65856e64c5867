package pack

import (
	"context"
	"io"
	"os"
	"runtime/debug"
	"testing"
	"time"
)

func TestScratchMemXz(t *testing.T) {
	for _, name := range []string{"xz-6"} {
		debug.FreeOSMemory()
		os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
		st := time.Now()
		info, err := WriteCompressed(context.Background(), "/tmp/scratch/o.tar", mustCompression(t, name), 2, func(w io.Writer) error {
			_, err := WriteTree(context.Background(), w, os.Getenv("TREE"), TarOptions{})
			return err
		})
		hwm, _ := readHWM("/proc/self/status")
		t.Logf("%s err=%v %v hwm=%.0f size=%d", name, err, time.Since(st), hwm, info.Size)
	}
}
