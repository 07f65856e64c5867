package confined

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/internal/testenv"
)

// entry is one archive member for makeTar.
type entry struct {
	hdr  tar.Header
	body string
}

func makeTar(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := e.hdr
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
		}
		if hdr.Format == tar.FormatUnknown {
			hdr.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatalf("%s: %v", hdr.Name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func file(name, body string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg}, body: body}
}
func dir(name string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}
func symlink(name, target string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
}
func hardlink(name, target string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}}
}

func TestDetectFormat(t *testing.T) {
	plain := makeTar(t, file("a", "x"))
	tests := map[string][]byte{
		formatGzip:  {0x1f, 0x8b, 8, 0},
		formatXz:    {0xfd, '7', 'z', 'X', 'Z', 0, 0, 4},
		formatZstd:  {0x28, 0xb5, 0x2f, 0xfd, 0x24},
		formatBzip2: []byte("BZh91AY&SY"),
		formatTar:   plain,
		"":          []byte("hello, world"),
	}
	gnu := append([]byte(nil), plain...)
	copy(gnu[257:], "ustar  \x00")
	tests[formatTar+" (GNU)"] = gnu
	for want, head := range tests {
		want, _, _ = strings.Cut(want, " ")
		if got := detectFormat(head); got != want {
			t.Errorf("detectFormat(% x…) = %q, want %q", head[:min(8, len(head))], got, want)
		}
	}
}

// compressors make each compressed variant the way the usual tools do;
// bzip2 has no writer in Go, so the bzip2 command makes it when present.
var compressors = map[string]func(t *testing.T, data []byte) []byte{
	"tar": func(t *testing.T, data []byte) []byte { return data },
	"gzip": func(t *testing.T, data []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		writeAll(t, zw, data)
		return buf.Bytes()
	},
	"xz": func(t *testing.T, data []byte) []byte {
		var buf bytes.Buffer
		xw, err := xz.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, xw, data)
		return buf.Bytes()
	},
	"zstd": func(t *testing.T, data []byte) []byte {
		var buf bytes.Buffer
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, zw, data)
		return buf.Bytes()
	},
	"bzip2": func(t *testing.T, data []byte) []byte {
		if _, err := exec.LookPath("bzip2"); err != nil {
			t.Skip("the bzip2 command is not installed")
		}
		cmd := exec.Command("bzip2", "-c")
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return out
	},
}

func writeAll(t *testing.T, w io.WriteCloser, data []byte) {
	t.Helper()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenArchiveFormats compresses one tar every way, stores each under
// a name that says nothing, and checks OpenArchive gives back the tar
// byte for byte and ExtractArchive extracts it.
func TestOpenArchiveFormats(t *testing.T) {
	data := makeTar(t, dir("etc/"), file("etc/os-release", "ID=test\n"))
	for name, compress := range compressors {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rootfs.bin")
			if err := os.WriteFile(path, compress(t, data), 0o644); err != nil {
				t.Fatal(err)
			}
			a, err := OpenArchive(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(a)
			if err := errors.Join(err, a.Close()); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("decompressed %d bytes differ from the %d of the tar", len(got), len(data))
			}
			root := t.TempDir()
			if err := ExtractArchive(context.Background(), path, root, 0); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(filepath.Join(root, "etc/os-release")); err != nil || string(b) != "ID=test\n" {
				t.Errorf("extracted: %q, %v", b, err)
			}
		})
	}
}

func TestOpenArchiveUnknownFormat(t *testing.T) {
	dir := t.TempDir()
	tests := map[string][]byte{
		"text":  []byte("this is not an archive\n"),
		"empty": nil,
		"zip":   []byte("PK\x03\x04\x14\x00\x00\x00"),
	}
	for name, content := range tests {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := OpenArchive(path)
		if err == nil || !strings.Contains(err.Error(), "unknown archive format") || !strings.Contains(err.Error(), path) {
			t.Errorf("OpenArchive(%s) = %v, want an unknown-format error naming the file", name, err)
		}
		if err := ExtractArchive(context.Background(), path, t.TempDir(), 0); err == nil {
			t.Errorf("ExtractArchive(%s) succeeded", name)
		}
	}
	if _, err := OpenArchive(filepath.Join(dir, "missing")); err == nil {
		t.Error("opening a missing archive succeeded")
	}
}

// capNetBindService is a version 2 security.capability value granting
// cap_net_bind_service, effective.
var capNetBindService = []byte{1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

// TestExtractTarRoundTrip extracts an archive holding every kind of
// entry and compares every field of every result with its header.
func TestExtractTarRoundTrip(t *testing.T) {
	testenv.Root(t)
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	hdr := func(h tar.Header) tar.Header {
		h.ModTime, h.Format = mtime, tar.FormatPAX
		return h
	}
	xattrs := map[string]string{"SCHILY.xattr.user.test": "hello", "SCHILY.xattr.security.capability": string(capNetBindService)}
	entries := []entry{
		{hdr: hdr(tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o750})},
		{hdr: hdr(tar.Header{Name: "./usr/", Typeflag: tar.TypeDir, Mode: 0o755})},
		{hdr: hdr(tar.Header{Name: "./usr/bin/", Typeflag: tar.TypeDir, Mode: 0o755})},
		{hdr: hdr(tar.Header{Name: "./usr/bin/ping", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 1000, Gid: 1000, PAXRecords: xattrs}), body: "ELF\x7f"},
		{hdr: hdr(tar.Header{Name: "./usr/bin/ping6", Typeflag: tar.TypeLink, Linkname: "./usr/bin/ping"})},
		{hdr: hdr(tar.Header{Name: "./bin", Typeflag: tar.TypeSymlink, Linkname: "usr/bin", Mode: 0o777, Uid: 1000, Gid: 1000})},
		{hdr: hdr(tar.Header{Name: "./home/u/", Typeflag: tar.TypeDir, Mode: 0o700, Uid: 1000, Gid: 1000})},
		{hdr: hdr(tar.Header{Name: "./dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3})},
		{hdr: hdr(tar.Header{Name: "./dev/loop0", Typeflag: tar.TypeBlock, Mode: 0o660, Gid: 6, Devmajor: 7, Devminor: 0})},
		{hdr: hdr(tar.Header{Name: "./run/initctl", Typeflag: tar.TypeFifo, Mode: 0o600})},
		{hdr: hdr(tar.Header{Name: "./tmp/", Typeflag: tar.TypeDir, Mode: 0o1777})},
		{hdr: hdr(tar.Header{Name: "usr/share/doc", Typeflag: tar.TypeReg, Mode: 0o644}), body: "no leading ./"},
	}
	root := t.TempDir()
	if err := ExtractTar(context.Background(), bytes.NewReader(makeTar(t, entries...)), root, 0); err != nil {
		t.Fatal(err)
	}
	wantXattrs := map[string]string{"user.test": "hello", "security.capability": string(capNetBindService)}
	want := map[string]meta{
		"":              {Type: unix.S_IFDIR, Perm: 0o750},
		"usr/bin":       {Type: unix.S_IFDIR, Perm: 0o755},
		"usr/bin/ping":  {Type: unix.S_IFREG, Perm: 0o4755, UID: 1000, GID: 1000, Content: "ELF\x7f", Xattrs: wantXattrs},
		"usr/bin/ping6": {Type: unix.S_IFREG, Perm: 0o4755, UID: 1000, GID: 1000, Content: "ELF\x7f", Xattrs: wantXattrs},
		"bin":           {Type: unix.S_IFLNK, Perm: 0o777, UID: 1000, GID: 1000, Target: "usr/bin"},
		"home/u":        {Type: unix.S_IFDIR, Perm: 0o700, UID: 1000, GID: 1000},
		"dev/null":      {Type: unix.S_IFCHR, Perm: 0o666, Rdev: unix.Mkdev(1, 3)},
		"dev/loop0":     {Type: unix.S_IFBLK, Perm: 0o660, GID: 6, Rdev: unix.Mkdev(7, 0)},
		"run/initctl":   {Type: unix.S_IFIFO, Perm: 0o600},
		"tmp":           {Type: unix.S_IFDIR, Perm: 0o1777},
		"usr/share/doc": {Type: unix.S_IFREG, Perm: 0o644, Content: "no leading ./"},
	}
	for p, w := range want {
		w.Mtime = mtime.UnixNano()
		if got := describe(t, filepath.Join(root, p)); !reflect.DeepEqual(got, w) {
			t.Errorf("/%s:\n got %+v\nwant %+v", p, got, w)
		}
	}
	var a, b unix.Stat_t
	if err := errors.Join(unix.Lstat(filepath.Join(root, "usr/bin/ping"), &a), unix.Lstat(filepath.Join(root, "usr/bin/ping6"), &b)); err != nil {
		t.Fatal(err)
	}
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("ping6 is not a hard link of ping: inodes %d and %d, %d links", a.Ino, b.Ino, a.Nlink)
	}
	// Parents missing from the archive are root:root 0755.
	if m := describe(t, filepath.Join(root, "dev")); m.Perm != 0o755 || m.UID != 0 {
		t.Errorf("implicit parent /dev: %+v", m)
	}
}

// TestExtractTarRefuses feeds archives that try to write outside the
// root. Each must fail naming the entry and leave the host unchanged.
func TestExtractTarRefuses(t *testing.T) {
	tests := []struct {
		name    string
		entries func(f *escapeFixture) []entry
		// entry is the name the error must quote.
		entry string
	}{
		{"dot-dot name", func(*escapeFixture) []entry { return []entry{file("../outside/sentinel", "pwned")} }, "../outside/sentinel"},
		{"dot-dot inside the name", func(*escapeFixture) []entry { return []entry{dir("a/"), file("a/../../outside/sentinel", "pwned")} }, "a/../../outside/sentinel"},
		{"absolute name", func(f *escapeFixture) []entry { return []entry{file(f.out+"/sentinel", "pwned")} }, "/outside/sentinel"},
		{"hard link climbing out", func(*escapeFixture) []entry { return []entry{hardlink("h", "../outside/sentinel")} }, "h"},
		{"hard link to an absolute path", func(f *escapeFixture) []entry { return []entry{hardlink("h", f.out+"/sentinel")} }, "h"},
		{"symlink climbing out", func(*escapeFixture) []entry { return []entry{symlink("s", "../outside")} }, "s"},
		{"nested symlink climbing out", func(*escapeFixture) []entry { return []entry{symlink("d/s", "../../outside/sentinel")} }, "d/s"},
		{"write through an earlier absolute symlink", func(f *escapeFixture) []entry {
			return []entry{symlink("a", f.out), file("a/sentinel", "pwned")}
		}, "a/sentinel"},
		{"directory through an earlier absolute symlink", func(f *escapeFixture) []entry {
			return []entry{symlink("a", f.out), dir("a/sub/")}
		}, "a/sub/"},
		{"hard link through an earlier absolute symlink", func(f *escapeFixture) []entry {
			return []entry{symlink("a", f.out), hardlink("h", "a/sentinel")}
		}, "h"},
		{"symlink through an earlier symlink", func(f *escapeFixture) []entry {
			return []entry{symlink("etc", f.out), symlink("etc/sentinel", "/etc/shadow")}
		}, "etc/sentinel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEscapeFixture(t)
			err := ExtractTar(context.Background(), bytes.NewReader(makeTar(t, tt.entries(f)...)), f.root, 0)
			if err == nil || !strings.Contains(err.Error(), `extracting "`) || !strings.Contains(err.Error(), tt.entry+`"`) {
				t.Errorf("ExtractTar = %v, want an error naming %q", err, tt.entry)
			}
			f.assertUntouched(t)
		})
	}
}

// TestExtractTarStaysInside covers archives that look dangerous but are
// fine: the writes land inside the root, the host is unchanged.
func TestExtractTarStaysInside(t *testing.T) {
	f := newEscapeFixture(t)
	sentinel := filepath.Join(f.out, "sentinel")
	entries := []entry{
		symlink("abs", sentinel),         // absolute targets resolve in the image
		file("abs", "replaces the link"), // a later file replaces the link itself
		symlink("s", sentinel),
		hardlink("h", "s"), // links the symlink, never its target
		symlink("usr/lib/up", "../../etc"),
		dir("real/"),
		symlink("lib", "real"),
		file("lib/x", "through an in-image symlink"),
	}
	if err := ExtractTar(context.Background(), bytes.NewReader(makeTar(t, entries...)), f.root, 0); err != nil {
		t.Fatal(err)
	}
	if m := describe(t, filepath.Join(f.root, "abs")); m.Type != unix.S_IFREG || m.Content != "replaces the link" {
		t.Errorf("abs: %+v", m)
	}
	if m := describe(t, filepath.Join(f.root, "h")); m.Type != unix.S_IFLNK || m.Target != sentinel {
		t.Errorf("h: %+v", m)
	}
	if b, err := os.ReadFile(filepath.Join(f.root, "real/x")); err != nil || string(b) != "through an in-image symlink" {
		t.Errorf("real/x: %q, %v", b, err)
	}
	f.assertUntouched(t)
}

func TestExtractTarErrors(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		want    string
	}{
		{"non-empty directory replaced by a file", []entry{file("d/x", "1"), file("d", "2")}, `extracting "d": replacing the existing directory`},
		{"root as a file", []entry{file(".", "x")}, `extracting ".": the root can only be a directory`},
		{"hard link to a missing file", []entry{hardlink("h", "nothing")}, `extracting "h": hard link to /nothing`},
	}
	for _, tt := range tests {
		err := ExtractTar(context.Background(), bytes.NewReader(makeTar(t, tt.entries...)), t.TempDir(), 0)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error mentioning %q", tt.name, err, tt.want)
		}
	}
	if err := ExtractTar(context.Background(), strings.NewReader(strings.Repeat("x", 1024)), t.TempDir(), 0); err == nil {
		t.Error("extracting garbage succeeded")
	}
}

func TestExtractTarCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	root := t.TempDir()
	err := ExtractTar(ctx, bytes.NewReader(makeTar(t, file("a", "x"))), root, 0)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ExtractTar with a cancelled context = %v", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("extracted %v after cancellation", entries)
	}
}

func TestSymlinkEscapes(t *testing.T) {
	tests := []struct {
		name, target string
		escapes      bool
	}{
		{"a", "b", false},
		{"a", "..", true},
		{"a", "/etc/passwd", false},
		{"usr/lib/x", "../../etc", false},
		{"usr/lib/x", "../../../etc", true},
		{"usr/lib/x", "./../b/../../..", true},
		{"usr/lib/x", "a/../../..", false},
		{"a", "", false},
	}
	for _, tt := range tests {
		if got := symlinkEscapes(tt.name, tt.target); got != tt.escapes {
			t.Errorf("symlinkEscapes(%q, %q) = %v", tt.name, tt.target, got)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{1 << 30: "1GiB", 64 << 20: "64MiB", 3 << 29: "1536MiB", 1000: "1000B", 2 << 40: "2TiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
