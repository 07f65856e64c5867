package treediff

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Archives another tool, or a hostile image, may hold: what builder
// never writes, treediff must still read right and within bounds.

// A sparse entry of a few hundred bytes may claim a petabyte of zeros:
// hashing them takes years, so the read must stop when its context
// ends, not only between entries.
func TestHostileSparseSizeIsCancellable(t *testing.T) {
	const realSize = 1 << 50
	// archive/tar writes no sparse file: the PAX 1.0 one is made by
	// hand. Its map (one data region of 0 bytes at the end) is the
	// entry's first block; everything before it is a hole.
	var raw bytes.Buffer
	var pax strings.Builder
	for _, kv := range []string{"GNU.sparse.major=1", "GNU.sparse.minor=0", "GNU.sparse.name=big", fmt.Sprintf("GNU.sparse.realsize=%d", int64(realSize))} {
		// A record's length counts its own digits.
		rec := " " + kv + "\n"
		n := len(rec) + len(fmt.Sprint(len(rec)))
		if len(fmt.Sprint(n)) > len(fmt.Sprint(len(rec))) {
			n++
		}
		fmt.Fprintf(&pax, "%d%s", n, rec)
	}
	sparseMap := fmt.Sprintf("1\n%d\n0\n", int64(realSize))
	raw.Write(ustarBlock("PaxHeaders/big", tar.TypeXHeader, int64(pax.Len())))
	raw.Write(padBlock([]byte(pax.String())))
	raw.Write(ustarBlock("GNUSparseFile.0/big", tar.TypeReg, 512))
	raw.Write(padBlock([]byte(sparseMap)))
	raw.Write(make([]byte, 1024))
	p := filepath.Join(t.TempDir(), "bomb.tar")
	if err := os.WriteFile(p, raw.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Read(ctx, s, Options{})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "/big") {
			t.Errorf("Read of a %d-byte archive claiming %d bytes: %v", raw.Len(), int64(realSize), err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Read went on hashing zeros long after its context ended")
	}
}

// A PAX archive from another tool may hold sub-second times, which
// extraction restores: two that differ by half a second differ.
func TestSubsecondMTime(t *testing.T) {
	tmp := t.TempDir()
	late := file("etc/motd", "hi\n")
	late.h.ModTime = t0.Add(500 * time.Millisecond)
	r := compare(t, writeTar(t, tmp, "a.tar", "none", file("etc/motd", "hi\n")), writeTar(t, tmp, "b.tar", "none", late))
	if got, want := summary(r), []string{"changed /etc/motd mtime"}; !slices.Equal(got, want) {
		t.Fatalf("report %v, want %v", got, want)
	}
	if d := r.Entries[0].Details; len(d) != 1 || d[0] != "mtime 2023-11-14T22:13:20Z → 2023-11-14T22:13:20.5Z" {
		t.Errorf("details %q", d)
	}
}

// Report's JSON (in `builder repro --json`) has the same lower-case
// keys as everything else builder prints.
func TestReportJSONKeys(t *testing.T) {
	b, err := json.Marshal(Report{A: "a", B: "b", Entries: []Entry{{Path: "/x", Kind: Added}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":"a","b":"b","entries":[{"path":"/x","kind":"added"}]}`; string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
}

// ustarBlock is a ustar header block, for entries archive/tar does not
// write.
func ustarBlock(name string, typeflag byte, size int64) []byte {
	b := make([]byte, 512)
	copy(b[0:], name)
	copy(b[100:], "0000644\x00")
	copy(b[108:], "0000000\x00")
	copy(b[116:], "0000000\x00")
	copy(b[124:], fmt.Sprintf("%011o\x00", size))
	copy(b[136:], fmt.Sprintf("%011o\x00", t0.Unix()))
	copy(b[148:], "        ")
	b[156] = typeflag
	copy(b[257:], "ustar\x0000")
	var sum int
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// padBlock pads data to a whole number of 512-byte blocks.
func padBlock(data []byte) []byte {
	return append(data, make([]byte, (512-len(data)%512)%512)...)
}

// Tar headers compress well: a small hostile archive may hold xattrs
// or paths by the GiB. What the nodes keep in memory is bounded.
func TestMetadataBounded(t *testing.T) {
	var members []member
	for i := range 8 {
		m := file(fmt.Sprintf("f%d", i), "")
		m.h.PAXRecords = map[string]string{"SCHILY.xattr.user.big": strings.Repeat("x", 64<<10)}
		members = append(members, m)
	}
	p := writeTar(t, t.TempDir(), "a.tar.gz", "gzip", members...)
	if st, _ := os.Stat(p); st.Size() > 8<<10 {
		t.Fatalf("the archive is %d bytes", st.Size())
	}
	s, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Read(context.Background(), s, Options{MaxMetadata: 256 << 10}); err == nil || !strings.Contains(err.Error(), "/f3: the tree's paths, links and xattrs exceed 262144 bytes") {
		t.Errorf("Read past MaxMetadata: %v", err)
	}
	tr, err := Read(context.Background(), s, Options{})
	if err != nil || len(tr.Nodes) != 8 {
		t.Errorf("Read within the default: %v", err)
	}
}

// One file spelled twice ("etc/passwd", "./etc//passwd"): extraction
// leaves the later entry's contents, so two archives holding both
// spellings in opposite orders differ.
func TestOneFileSpelledTwice(t *testing.T) {
	tmp := t.TempDir()
	a := writeTar(t, tmp, "a.tar", "none", dir("etc/"), file("etc/passwd", "root:x:0:0\n"), file("./etc//passwd", "evil::0:0\n"))
	b := writeTar(t, tmp, "b.tar", "none", dir("etc/"), file("./etc//passwd", "evil::0:0\n"), file("etc/passwd", "root:x:0:0\n"))
	if got, want := summary(compare(t, a, b)), []string{"changed /etc/passwd content"}; !slices.Equal(got, want) {
		t.Errorf("report %v, want %v", got, want)
	}
}
