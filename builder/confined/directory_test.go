package confined

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/internal/testenv"
)

// TestCopyTree builds a source tree with every kind of object and
// metadata the directory backend must keep, copies it, and compares
// every field of every path.
func TestCopyTree(t *testing.T) {
	testenv.Root(t)
	src := filepath.Join(t.TempDir(), "src")
	layout(t, src, "etc/", "usr/bin/ping=ELF\x7f", "usr/share/empty=", "tmp/", "dev/", "run/",
		"bin->usr/bin", "abs->/etc/nowhere")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	p := func(name string) string { return filepath.Join(src, name) }
	must(os.Link(p("usr/bin/ping"), p("usr/bin/ping6")))
	must(unix.Mknod(p("dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Mkfifo(p("run/initctl"), 0o600))
	l, err := net.Listen("unix", p("run/sock"))
	must(err)
	defer l.Close()
	must(os.Chown(p("etc"), 1000, 1000))
	must(os.Chown(p("usr/bin/ping"), 1000, 1000))
	must(os.Lchown(p("bin"), 1000, 1000))
	must(os.Chmod(p("etc"), 0o750))
	must(unix.Chmod(p("tmp"), 0o1777))
	must(unix.Chmod(p("usr/bin/ping"), 0o4755))
	must(unix.Chmod(p("dev/null"), 0o666))
	// After chown, which would clear the capability.
	must(unix.Lsetxattr(p("usr/bin/ping"), "user.test", []byte("hello"), 0))
	must(unix.Lsetxattr(p("usr/bin/ping"), "security.capability", capNetBindService, 0))
	must(unix.Lsetxattr(p("etc"), "user.dir", []byte("d"), 0))
	// mtimes last, deepest first, since creating entries changes them.
	paths := []string{"usr/bin/ping", "usr/share/empty", "bin", "abs", "dev/null", "run/initctl",
		"usr/bin", "usr/share", "usr", "etc", "tmp", "dev", "run", "."}
	for i, name := range paths {
		ts := unix.NsecToTimespec(time.Date(2020, 1, 2, 3, 4, i, 500, time.UTC).UnixNano())
		must(unix.UtimesNanoAt(unix.AT_FDCWD, p(name), []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW))
	}

	dst := filepath.Join(t.TempDir(), "rootfs")
	if err := CopyTree(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	for _, name := range append(paths, "usr/bin/ping6") {
		want, got := describe(t, p(name)), describe(t, filepath.Join(dst, name))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("/%s:\n got %+v\nwant %+v", name, got, want)
		}
	}
	// Checked directly too, so a listXattrs that saw nothing on either
	// side cannot pass the comparison above.
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(filepath.Join(dst, "usr/bin/ping"), "security.capability", buf)
	if err != nil || string(buf[:n]) != string(capNetBindService) {
		t.Errorf("security.capability of the copy: %x, %v", buf[:max(n, 0)], err)
	}
	if n, err := unix.Lgetxattr(filepath.Join(dst, "usr/bin/ping"), "user.test", buf); err != nil || string(buf[:n]) != "hello" {
		t.Errorf("user.test of the copy: %v", err)
	}
	var a, b unix.Stat_t
	must(unix.Lstat(filepath.Join(dst, "usr/bin/ping"), &a))
	must(unix.Lstat(filepath.Join(dst, "usr/bin/ping6"), &b))
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("ping6 is not a hard link of ping in the copy: inodes %d, %d; %d links", a.Ino, b.Ino, a.Nlink)
	}
	if _, err := os.Lstat(filepath.Join(dst, "run/sock")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the socket was copied: %v", err)
	}
}

// TestCopyTreeStaysOnOneFileSystem mounts a tmpfs inside the source, as
// a /proc left mounted in a source rootfs would be: its mount point is
// copied, its contents are not.
func TestCopyTreeStaysOnOneFileSystem(t *testing.T) {
	testenv.Root(t)
	src := t.TempDir()
	layout(t, src, "proc/", "etc/hostname=h")
	mnt := filepath.Join(src, "proc")
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mounting tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	layout(t, mnt, "cpuinfo=not for the image")
	dst := filepath.Join(t.TempDir(), "rootfs")
	if err := CopyTree(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(dst, "proc"))
	if err != nil || len(entries) != 0 {
		t.Errorf("the copied mount point holds %v (%v), want an empty directory", entries, err)
	}
	if _, err := os.Stat(filepath.Join(dst, "etc/hostname")); err != nil {
		t.Errorf("the rest was not copied: %v", err)
	}
}

func TestCopyTreeErrors(t *testing.T) {
	src := t.TempDir()
	layout(t, src, "etc/hostname=h")
	full := t.TempDir()
	layout(t, full, "already=here")
	tests := []struct {
		name, src, dst string
		want           string
	}{
		{"destination not empty", src, full, "not empty"},
		{"source is a file", filepath.Join(src, "etc/hostname"), filepath.Join(t.TempDir(), "d"), "not a directory"},
		{"source missing", filepath.Join(src, "nothing"), filepath.Join(t.TempDir(), "d"), "source"},
		{"destination inside the source", src, filepath.Join(src, "rootfs"), "contains the image root"},
	}
	for _, tt := range tests {
		if err := CopyTree(context.Background(), tt.src, tt.dst); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: CopyTree = %v, want an error mentioning %q", tt.name, err, tt.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := CopyTree(ctx, src, filepath.Join(t.TempDir(), "d")); !errors.Is(err, context.Canceled) {
		t.Errorf("CopyTree with a cancelled context = %v", err)
	}
}

// TestCopyTreePlain needs no root: a tree of the caller's own files is
// copied with modes, symlinks and mtimes kept.
func TestCopyTreePlain(t *testing.T) {
	src := t.TempDir()
	layout(t, src, "a/b=1", "a/link->b", "c/")
	if err := os.Chmod(filepath.Join(src, "a/b"), 0o600); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "dst")
	if err := CopyTree(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "a/b", "a/link", "c"} {
		if got, want := describe(t, filepath.Join(dst, name)), describe(t, filepath.Join(src, name)); !reflect.DeepEqual(got, want) {
			t.Errorf("/%s:\n got %+v\nwant %+v", name, got, want)
		}
	}
}
