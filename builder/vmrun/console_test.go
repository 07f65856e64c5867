package vmrun

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type flood struct{}

func (flood) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// TestConsoleFileBounded: a guest flooding its console fills neither the
// console's file (its size limit, then a note) nor memory.
func TestConsoleFileBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	c := newConsole()
	const limit = 1 << 20
	copyOut(io.LimitReader(flood{}, 20*limit+12345), &limitWriter{w: f, left: limit}, c)
	f.Close()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) > limit+200 || len(got) < limit {
		t.Errorf("console file of %d bytes; limit %d", len(got), limit)
	}
	if !strings.HasSuffix(string(got), "not kept]\n") || strings.Count(string(got), "[builder:") != 1 {
		t.Errorf("console file ends %q; want one note that it was cut", got[len(got)-120:])
	}
	if n := len(c.String()); n > maxConsole {
		t.Errorf("console keeps %d bytes in memory", n)
	}
}

func TestLimitWriterExact(t *testing.T) {
	var b strings.Builder
	l := &limitWriter{w: &b, left: 4}
	for _, s := range []string{"ab", "cd", "ef"} {
		if n, err := l.Write([]byte(s)); n != 2 || err != nil {
			t.Fatalf("write %q: %d, %v", s, n, err)
		}
	}
	if !strings.HasPrefix(b.String(), "abcd\n[builder:") || strings.Contains(b.String(), "ef") {
		t.Errorf("wrote %q", b.String())
	}
}
