package pack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/testenv"
)

func writeTreeFile(t testing.TB, root string, opts TarOptions) string {
	t.Helper()
	return writeFile(t, "tree.tar", func(w io.Writer) error {
		_, err := WriteTree(context.Background(), w, root, opts)
		return err
	})
}

func readHeaders(t testing.TB, archive []byte) []*tar.Header {
	t.Helper()
	r := tar.NewReader(bytes.NewReader(archive))
	var hs []*tar.Header
	for {
		h, err := r.Next()
		if err == io.EOF {
			return hs
		}
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
}

func TestWriteTreeRoundTrip(t *testing.T) {
	src := makeTree(t, t.TempDir(), treeOptions{bigSize: 3 << 20})
	want := snapshot(t, src)
	epoch := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		opts  TarOptions
		under string
	}{
		{"split", TarOptions{}, "."},
		{"unified", TarOptions{Prefix: "rootfs/"}, "rootfs"},
		{"split-epoch", TarOptions{SourceDateEpoch: &epoch}, "."},
		{"unified-epoch", TarOptions{Prefix: "rootfs/", SourceDateEpoch: &epoch}, "rootfs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := extract(t, writeTreeFile(t, src, tc.opts))
			if tc.under != "." {
				if names, _ := os.ReadDir(dst); len(names) != 1 || names[0].Name() != tc.under {
					t.Fatalf("extracted top level = %v, want only %s", names, tc.under)
				}
			}
			compareTrees(t, want, snapshot(t, filepath.Join(dst, tc.under)), tc.opts.SourceDateEpoch)
		})
	}
}

// The entry order is GNU tar's --sort=name: the same names, in the same
// order, as `tar --sort=name -C root -c .` without its "./" prefix.
func TestWriteTreeOrderMatchesGNUTar(t *testing.T) {
	tarPath := testenv.Command(t, "tar", "tar")
	src := makeTree(t, t.TempDir(), treeOptions{bigSize: 1024})
	gnu := filepath.Join(t.TempDir(), "gnu.tar")
	cmd := exec.Command(tarPath, "--sort=name", "--format=pax", "-C", src, "-cf", gnu, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd, err, out)
	}
	names := func(archive string) []string {
		data, err := os.ReadFile(archive)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, h := range readHeaders(t, data) {
			if h.Name != "./" {
				h.Name = strings.TrimPrefix(h.Name, "./")
			}
			names = append(names, h.Name)
		}
		return names
	}
	want := names(gnu)
	got := names(writeTreeFile(t, src, TarOptions{}))
	if !slices.Equal(got, want) {
		t.Errorf("entry order differs from GNU tar's\n got %q\nwant %q", got, want)
	}
}

func TestTarHeaders(t *testing.T) {
	src := makeTree(t, t.TempDir(), treeOptions{bigSize: 1024})
	epoch := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, prefix := range []string{"", "rootfs/"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			var buf bytes.Buffer
			stats, err := WriteTree(context.Background(), &buf, src, TarOptions{Prefix: prefix, SourceDateEpoch: &epoch})
			if err != nil {
				t.Fatal(err)
			}
			hs := readHeaders(t, buf.Bytes())
			if int64(len(hs)) != stats.Entries {
				t.Errorf("Stats.Entries = %d, archive has %d", stats.Entries, len(hs))
			}
			rootName := prefix
			if prefix == "" {
				rootName = "./"
			}
			if hs[0].Name != rootName || hs[0].Typeflag != tar.TypeDir {
				t.Errorf("first entry = %q (type %c), want the root %q", hs[0].Name, hs[0].Typeflag, rootName)
			}
			byName := map[string]*tar.Header{}
			var data int64
			for _, h := range hs {
				byName[h.Name] = h
				if !strings.HasPrefix(h.Name, prefix) {
					t.Errorf("%s: no prefix %q", h.Name, prefix)
				}
				if (h.Typeflag == tar.TypeDir) != strings.HasSuffix(h.Name, "/") {
					t.Errorf("%s: type %c; only directories may end in /, and all must", h.Name, h.Typeflag)
				}
				if h.Uname != "" || h.Gname != "" {
					t.Errorf("%s: owner names %q:%q, want none", h.Name, h.Uname, h.Gname)
				}
				if h.ModTime.Nanosecond() != 0 || h.ModTime.After(epoch) {
					t.Errorf("%s: mtime %v, want whole seconds, not after %v", h.Name, h.ModTime, epoch)
				}
				if !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
					t.Errorf("%s: has atime or ctime", h.Name)
				}
				for k := range h.PAXRecords {
					if !strings.HasPrefix(k, "SCHILY.xattr.") && k != "path" && k != "uid" && k != "gid" {
						t.Errorf("%s: unexpected PAX record %s", h.Name, k)
					}
				}
				data += h.Size
			}
			if stats.Bytes != data {
				t.Errorf("Stats.Bytes = %d, archive holds %d", stats.Bytes, data)
			}
			if _, ok := byName[prefix+"sock"]; ok {
				t.Error("a socket was archived")
			}
			if h := byName[prefix+"usr/bin/su"]; h == nil || h.Mode != 0o4755 {
				t.Errorf("setuid file: %+v", h)
			}
			if h := byName[prefix+"tmp/"]; h == nil || h.Mode != 0o1777 {
				t.Errorf("sticky directory: %+v", h)
			}
			if h := byName[prefix+"link-abs"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/etc/passwd" {
				t.Errorf("absolute symlink: %+v", h)
			}
			if h := byName[prefix+"link-dir"]; h == nil || h.Typeflag != tar.TypeSymlink {
				t.Errorf("symlink to a directory: %+v", h)
			}
			if _, ok := byName[prefix+"link-dir/0"]; ok {
				t.Error("a symlink to a directory was followed")
			}
			// The first path of the inode in walk order holds the data;
			// the others link to it.
			first := prefix + "a/hard2"
			if h := byName[first]; h == nil || h.Typeflag != tar.TypeReg {
				t.Errorf("%s: %+v, want the regular file", first, h)
			}
			for _, other := range []string{"hard1", "usr/hard3"} {
				if h := byName[prefix+other]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != first {
					t.Errorf("%s: %+v, want a hard link to %s", other, h, first)
				}
			}
			h := byName[prefix+"a/b/file.txt"]
			if h == nil || h.PAXRecords["SCHILY.xattr.user.note"] != "hello" || h.PAXRecords["SCHILY.xattr.user.binary"] != "\x00\x01\xff=\n" {
				t.Errorf("xattrs: %+v", h)
			}
			// PAX records are written in key order.
			if i, j := bytes.Index(buf.Bytes(), []byte("SCHILY.xattr.user.binary=")), bytes.Index(buf.Bytes(), []byte("SCHILY.xattr.user.note=")); i < 0 || j < i {
				t.Errorf("xattr records not in key order (%d, %d)", i, j)
			}
			if h := byName[prefix+"fifo"]; h == nil || h.Typeflag != tar.TypeFifo || h.ModTime.Unix() != pastTime.Unix() {
				t.Errorf("fifo: %+v (an mtime before the epoch is kept)", h)
			}
		})
	}
}

// Device numbers, foreign and large ids and security.capability need
// root to create; CI requires this test to run.
func TestWriteTreeRootOnly(t *testing.T) {
	testenv.Root(t)
	src := makeTree(t, t.TempDir(), treeOptions{bigSize: 1024})
	var buf bytes.Buffer
	if _, err := WriteTree(context.Background(), &buf, src, TarOptions{}); err != nil {
		t.Fatal(err)
	}
	byName := map[string]*tar.Header{}
	for _, h := range readHeaders(t, buf.Bytes()) {
		byName[h.Name] = h
	}
	if h := byName["dev/null"]; h == nil || h.Typeflag != tar.TypeChar || h.Devmajor != 1 || h.Devminor != 3 || h.Size != 0 {
		t.Errorf("char device: %+v", h)
	}
	if h := byName["dev/loop0"]; h == nil || h.Typeflag != tar.TypeBlock || h.Devmajor != 7 || h.Devminor != 0 {
		t.Errorf("block device: %+v", h)
	}
	if h := byName["a-b/"]; h == nil || h.Uid != 3000000 || h.Gid != 3000001 {
		t.Errorf("large ids: %+v", h)
	}
	if h := byName["usr/bin/ping"]; h == nil || h.PAXRecords["SCHILY.xattr.security.capability"] != capNetRaw {
		t.Errorf("security.capability: %+v", h)
	}
	// and GNU tar restores all of it (compareTrees checks every field)
	dst := extract(t, writeTreeFile(t, src, TarOptions{}))
	compareTrees(t, snapshot(t, src), snapshot(t, dst), nil)
}

// The same tree gives the same bytes: twice in a row, after its files
// were read (atimes moved), and copied elsewhere with new inode numbers.
func TestWriteTreeDeterministic(t *testing.T) {
	src := makeTree(t, t.TempDir(), treeOptions{bigSize: 1 << 20})
	pack := func(root string) []byte {
		var buf bytes.Buffer
		if _, err := WriteTree(context.Background(), &buf, root, TarOptions{Prefix: "rootfs/"}); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	first := pack(src)
	if !bytes.Equal(first, pack(src)) {
		t.Fatal("two runs over the same tree differ")
	}
	cp := testenv.Command(t, "cp", "coreutils")
	copyDir := filepath.Join(t.TempDir(), "copy")
	run(t, cp, "-a", src, copyDir)
	if !bytes.Equal(first, pack(copyDir)) {
		t.Fatal("a copy of the tree (cp -a) gives different bytes")
	}
}

func TestWriteTreeErrors(t *testing.T) {
	src := makeTree(t, t.TempDir(), treeOptions{bigSize: 1024})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := WriteTree(ctx, io.Discard, src, TarOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}
	for _, prefix := range []string{"rootfs", "/rootfs/", "../x/", "a//", "./"} {
		if _, err := WriteTree(context.Background(), io.Discard, src, TarOptions{Prefix: prefix}); err == nil {
			t.Errorf("prefix %q accepted", prefix)
		}
	}
	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := WriteTree(context.Background(), io.Discard, missing, TarOptions{}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing root: err = %v, want it to name the path", err)
	}
	if _, err := WriteTree(context.Background(), io.Discard, filepath.Join(src, "empty"), TarOptions{}); err == nil {
		t.Error("a regular file accepted as the root")
	}
}
