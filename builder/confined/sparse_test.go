package confined

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/internal/testenv"
)

// sparseTar is an archive with one file in GNU's PAX sparse format 1.0
// (what `tar --format=pax -S` writes): size bytes long, holding data at
// each offset of data and holes everywhere else.
func sparseTar(t *testing.T, name string, size int64, data map[int64]string) []byte {
	t.Helper()
	var offsets []int64
	for off := range data {
		offsets = append(offsets, off)
	}
	slices.Sort(offsets)
	sparseMap := strconv.Itoa(len(offsets)) + "\n"
	var body bytes.Buffer
	for _, off := range offsets {
		sparseMap += strconv.FormatInt(off, 10) + "\n" + strconv.Itoa(len(data[off])) + "\n"
	}
	body.WriteString(sparseMap)
	body.Write(make([]byte, (512-len(sparseMap)%512)%512))
	for _, off := range offsets {
		body.WriteString(data[off])
	}
	// archive/tar writes no sparse files and drops GNU.sparse records;
	// the extended header is written as a plain file, then retyped.
	var pax bytes.Buffer
	for _, kv := range [][2]string{{"GNU.sparse.major", "1"}, {"GNU.sparse.minor", "0"}, {"GNU.sparse.name", name}, {"GNU.sparse.realsize", strconv.FormatInt(size, 10)}} {
		rec := " " + kv[0] + "=" + kv[1] + "\n"
		n := len(rec) + 1
		for len(strconv.Itoa(n))+len(rec) != n {
			n++
		}
		pax.WriteString(strconv.Itoa(n) + rec)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct {
		name string
		body []byte
	}{{"PaxHeaders/" + name, pax.Bytes()}, {"GNUSparseFile.0/" + name, body.Bytes()}} {
		hdr := &tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.body)), Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.Bytes()
	out[156] = tar.TypeXHeader
	sum := 0
	copy(out[148:156], "        ")
	for _, c := range out[:512] {
		sum += int(c)
	}
	copy(out[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return out
}

// allocated is the space a file takes on disk.
func allocated(t *testing.T, p string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// TestExtractKeepsHoles: a 1 GiB sparse file in a 3 KB archive takes a
// few blocks on disk, not 1 GiB, and reads back the same.
func TestExtractKeepsHoles(t *testing.T) {
	data := map[int64]string{0: "start", 300 << 20: "middle", 1<<30 - 3: "end"}
	archive := sparseTar(t, "big", 1<<30, data)
	root := t.TempDir()
	if err := ExtractTar(context.Background(), bytes.NewReader(archive), root, 0); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "big")
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 1<<30 {
		t.Errorf("size %d, want 1 GiB", st.Size())
	}
	if a := allocated(t, p); a > 1<<20 {
		t.Errorf("a %d-byte archive wrote %d bytes to disk", len(archive), a)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for off, want := range data {
		got := make([]byte, len(want)+1)
		n, _ := f.ReadAt(got, off)
		if string(got[:len(want)]) != want || (n > len(want) && got[len(want)] != 0) {
			t.Errorf("at %d: %q, want %q", off, got[:n], want)
		}
	}
}

// TestExtractExpansionBound: an archive that expands past its bound is
// refused at the entry that crosses it, before anything of that entry is
// written: a sparse file's size, and every entry's header, count.
func TestExtractExpansionBound(t *testing.T) {
	root := t.TempDir()
	err := ExtractTar(context.Background(), bytes.NewReader(sparseTar(t, "huge", 2<<30, map[int64]string{0: "x"})), root, 1<<30)
	if err == nil || !strings.Contains(err.Error(), `extracting "huge": the archive expands past 1GiB here, with a file of 2.0 GiB after 0 bytes of entries`) {
		t.Errorf("error %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "huge")); !os.IsNotExist(err) {
		t.Errorf("the refused entry was written: %v", err)
	}

	// 2048 empty files are 1 MiB of headers: the next one is refused.
	var entries []entry
	for i := range 2050 {
		entries = append(entries, file(fmt.Sprintf("f%04d", i), ""))
	}
	err = ExtractTar(context.Background(), bytes.NewReader(makeTar(t, entries...)), t.TempDir(), 1<<20)
	if err == nil || !strings.Contains(err.Error(), `extracting "f2048": the archive expands past 1MiB here, with this entry after 1.0 MiB of entries`) {
		t.Errorf("error %v", err)
	}
	if err := ExtractTar(context.Background(), bytes.NewReader(makeTar(t, entries[:2048]...)), t.TempDir(), 1<<20); err != nil {
		t.Errorf("an archive of exactly the bound: %v", err)
	}
}

// TestHoleWriter: what is written reads back the same, with every
// all-zero 4 KiB block a hole and the size right whether the file ends
// in data or in a hole.
func TestHoleWriter(t *testing.T) {
	h := newHoleWriter()
	block := func(b byte) []byte { return bytes.Repeat([]byte{b}, holeBlock) }
	for name, content := range map[string][]byte{
		"empty":           nil,
		"short":           []byte("abc"),
		"zeros":           make([]byte, 3<<20),
		"short zeros":     make([]byte, 100),
		"ends in a hole":  slices.Concat(block(1), make([]byte, 1<<20)),
		"ends in data":    slices.Concat(make([]byte, 1<<20), []byte("tail")),
		"zero within":     slices.Concat(block(1), block(0), block(2), make([]byte, 17)),
		"across a buffer": slices.Concat(make([]byte, 256<<10-holeBlock), block(3), block(3), make([]byte, 300<<10), []byte{9}),
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			n, err := h.write(f, bytes.NewReader(content))
			if cerr := f.Close(); err != nil || cerr != nil || n != int64(len(content)) {
				t.Fatalf("wrote %d of %d: %v, %v", n, len(content), err, cerr)
			}
			got, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("read back %d bytes (%v), want the %d written", len(got), err, len(content))
			}
			data := int64(0)
			for i := 0; i < len(content); i += holeBlock {
				if !bytes.Equal(content[i:min(i+holeBlock, len(content))], make([]byte, min(holeBlock, len(content)-i))) {
					data += holeBlock
				}
			}
			if a := allocated(t, p); a > data+holeBlock {
				t.Errorf("%d bytes allocated for %d bytes of data blocks", a, data)
			}
		})
	}
}

// TestExtractGNUSparse: archives GNU tar makes with --sparse, in its own
// format and in PAX, compressed: a 1 GiB file with three pieces of data
// fits in a few KB, and extracts as sparse as it was.
func TestExtractGNUSparse(t *testing.T) {
	tarBin := testenv.Command(t, "tar", "tar")
	src := t.TempDir()
	big := filepath.Join(src, "big.img")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{0, 512 << 20, 1<<30 - 5} {
		if _, err := f.WriteAt([]byte("data!"), off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"gnu", "pax"} {
		t.Run(format, func(t *testing.T) {
			archive := filepath.Join(t.TempDir(), "sparse.tar.xz")
			if out, err := exec.Command(tarBin, "-C", src, "--sparse", "--format="+format, "-cJf", archive, "big.img").CombinedOutput(); err != nil {
				t.Fatalf("tar: %v\n%s", err, out)
			}
			st, err := os.Stat(archive)
			if err != nil || st.Size() > 16<<10 {
				t.Fatalf("the archive: %v, %d bytes", err, st.Size())
			}
			root := t.TempDir()
			if err := ExtractArchive(context.Background(), archive, root, 0); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(root, "big.img")
			if a := allocated(t, out); a > 1<<20 {
				t.Errorf("a %d-byte archive wrote %d bytes to disk", st.Size(), a)
			}
			if cmp, err := exec.Command("cmp", big, out).CombinedOutput(); err != nil {
				t.Errorf("the extracted file differs: %v %s", err, cmp)
			}
		})
	}
}
