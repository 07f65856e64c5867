package output

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/testenv"
)

func TestProgress(t *testing.T) {
	for _, tty := range []bool{false, true} {
		var out testenv.SyncBuffer
		p := startProgressEvery(&out, tty, "rootfs.tar.xz", "archived", 20*time.Millisecond)
		var sink bytes.Buffer
		w := p.Wrap(&sink)
		if _, err := w.Write(make([]byte, 3<<20)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		p.Stop()
		got := out.String()
		if !strings.Contains(got, "rootfs.tar.xz: 3.0 MiB archived") {
			t.Errorf("tty=%v: progress output %q", tty, got)
		}
		if tty != strings.Contains(got, "\r") {
			t.Errorf("tty=%v: carriage returns in %q", tty, got)
		}
		if sink.Len() != 3<<20 {
			t.Errorf("the wrapped writer passed %d bytes on", sink.Len())
		}
	}
}

// lendingWriter lends a buffer, as pack's chunked compressors do.
type lendingWriter struct{ bytes.Buffer }

func (l *lendingWriter) Space() []byte { return make([]byte, 8) }

// The progress wrapper forwards the compressor's Space, so that pack
// still reads files straight into it, and lends nothing otherwise.
func TestProgressForwardsSpace(t *testing.T) {
	p := startProgressEvery(&testenv.SyncBuffer{}, false, "x", "archived", time.Hour)
	defer p.Stop()
	type lender interface{ Space() []byte }
	if l, ok := p.Wrap(&lendingWriter{}).(lender); !ok || len(l.Space()) != 8 {
		t.Error("Space of the wrapped writer not forwarded")
	}
	if l, ok := p.Wrap(&bytes.Buffer{}).(lender); ok && l.Space() != nil {
		t.Error("Space lent for a writer that lends none")
	}
}
