package confined

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/internal/testenv"
)

// escapeFixture is a temporary base directory holding an image root and,
// beside it, a host directory "outside" with a sentinel file. Tests aim
// their symlinks and ".." at the sentinel, then prove nothing outside
// the root changed.
type escapeFixture struct {
	base, root, out string
	before          map[string]string
}

const sentinelContent = "host data\n"

func newEscapeFixture(t *testing.T) *escapeFixture {
	t.Helper()
	base := t.TempDir()
	f := &escapeFixture{base: base, root: filepath.Join(base, "root"), out: filepath.Join(base, "outside")}
	for _, d := range []string{f.root, f.out} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(f.out, "sentinel"), []byte(sentinelContent), 0o644); err != nil {
		t.Fatal(err)
	}
	f.before = snapshot(t, base, f.root)
	return f
}

// climb is a relative symlink target that reaches the outside directory
// from anywhere on the host, by climbing to / first.
func (f *escapeFixture) climb() string {
	return strings.Repeat("../", 32) + strings.TrimPrefix(f.out, "/")
}

// assertUntouched checks the sentinel and that no file appeared, vanished
// or changed anywhere below the base directory except inside the root.
func (f *escapeFixture) assertUntouched(t *testing.T) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(f.out, "sentinel")); err != nil || string(b) != sentinelContent {
		t.Errorf("the sentinel outside the root changed: %q, %v", b, err)
	}
	if after := snapshot(t, f.base, f.root); !reflect.DeepEqual(after, f.before) {
		t.Errorf("the host outside the root changed:\nbefore %v\nafter  %v", f.before, after)
	}
}

// snapshot describes every path below base except the tree at skip.
func snapshot(t *testing.T, base, skip string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		desc := info.Mode().String()
		switch {
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += " " + string(b)
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		}
		out[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// layout creates entries below root, parents included: "dir/" is a
// directory, "file=content" a file, "link->target" a symlink.
func layout(t *testing.T, root string, specs ...string) {
	t.Helper()
	for _, s := range specs {
		var err error
		switch {
		case strings.Contains(s, "->"):
			name, target, _ := strings.Cut(s, "->")
			p := filepath.Join(root, name)
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.Symlink(target, p)
			}
		case strings.Contains(s, "="):
			name, content, _ := strings.Cut(s, "=")
			p := filepath.Join(root, name)
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.WriteFile(p, []byte(content), 0o644)
			}
		default:
			err = os.MkdirAll(filepath.Join(root, s), 0o755)
		}
		if err != nil {
			t.Fatalf("layout %q: %v", s, err)
		}
	}
}

// meta is what the tests compare of a file system object.
type meta struct {
	Type, Perm, UID, GID uint32
	Mtime                int64
	Rdev                 uint64
	Target, Content      string
	Xattrs               map[string]string
}

func describe(t *testing.T, p string) meta {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	m := meta{Type: st.Mode & unix.S_IFMT, Perm: st.Mode & 0o7777, UID: st.Uid, GID: st.Gid, Mtime: st.Mtim.Nano(), Rdev: st.Rdev}
	switch m.Type {
	case unix.S_IFREG:
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m.Content = string(b)
	case unix.S_IFLNK:
		target, err := os.Readlink(p)
		if err != nil {
			t.Fatal(err)
		}
		m.Target = target
	}
	xattrs, err := listXattrs(p)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range xattrs {
		if m.Xattrs == nil {
			m.Xattrs = map[string]string{}
		}
		m.Xattrs[k] = string(v)
	}
	return m
}

func TestSplitPath(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		bad  bool
	}{
		{in: "/etc/passwd", want: []string{"etc", "passwd"}},
		{in: "etc//passwd/", want: []string{"etc", "passwd"}},
		{in: "./etc/./x", want: []string{"etc", "x"}},
		{in: "/", want: nil},
		{in: "", want: nil},
		{in: "/etc/../../x", bad: true},
		{in: "..", bad: true},
		{in: "a/..", bad: true},
		{in: "a\x00b", bad: true},
		{in: "a/..b/c..", want: []string{"a", "..b", "c.."}},
	}
	for _, tt := range tests {
		got, err := splitPath(tt.in)
		if tt.bad != (err != nil) || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitPath(%q) = %q, %v; want %q, bad=%v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func openTestRoot(t *testing.T, dir string) *Root {
	t.Helper()
	r, err := OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRootMkdirAll(t *testing.T) {
	f := newEscapeFixture(t)
	layout(t, f.root, "usr/lib/", "lib->usr/lib", "abs->"+f.out, "rel->"+f.climb(), "file=x")
	r := openTestRoot(t, f.root)

	old := unix.Umask(0o077) // created parents must be 0755 whatever the umask
	d, err := r.MkdirAll("/a/b/c")
	unix.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	for _, p := range []string{"a", "a/b", "a/b/c"} {
		m := describe(t, filepath.Join(f.root, p))
		if m.Type != unix.S_IFDIR || m.Perm != 0o755 || int(m.UID) != os.Geteuid() {
			t.Errorf("%s: %+v, want a 0755 directory owned by uid %d", p, m, os.Geteuid())
		}
	}

	// A symlink inside the image is followed inside the image.
	if d, err = r.MkdirAll("/lib/x86_64"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if st, err := os.Lstat(filepath.Join(f.root, "usr/lib/x86_64")); err != nil || !st.IsDir() {
		t.Errorf("mkdir through lib -> usr/lib: %v", err)
	}

	// Symlinks aimed at the host resolve to missing paths inside the
	// image, and mkdir -p refuses to create through them.
	for _, p := range []string{"/abs/x", "/rel/x", "/abs", "/file/x", "/a/../../outside"} {
		if d, err := r.MkdirAll(p); err == nil {
			d.Close()
			t.Errorf("MkdirAll(%s) succeeded", p)
		}
	}
	f.assertUntouched(t)
}

func TestRootWriteFile(t *testing.T) {
	f := newEscapeFixture(t)
	layout(t, f.root, "etc/motd=old", "etc/link->"+filepath.Join(f.out, "sentinel"))
	r := openTestRoot(t, f.root)
	uid, gid := os.Getuid(), os.Getgid()

	if err := r.WriteFile("/etc/motd", strings.NewReader("new"), Attrs{UID: uid, GID: gid, Mode: 0o640}); err != nil {
		t.Fatal(err)
	}
	if m := describe(t, filepath.Join(f.root, "etc/motd")); m.Content != "new" || m.Perm != 0o640 {
		t.Errorf("replaced file: %+v", m)
	}
	// A symlink at the final name is replaced by the file, never
	// written through.
	if err := r.WriteFile("etc/link", strings.NewReader("inside"), Attrs{UID: uid, GID: gid, Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	if m := describe(t, filepath.Join(f.root, "etc/link")); m.Type != unix.S_IFREG || m.Content != "inside" || m.Perm != 0o600 {
		t.Errorf("file written over a symlink: %+v", m)
	}
	// A failed write leaves neither the file nor its temporary name.
	if err := r.WriteFile("/etc/motd/x", strings.NewReader(""), Attrs{UID: uid, GID: gid, Mode: 0o644}); err == nil {
		t.Error("writing below a regular file succeeded")
	}
	entries, err := os.ReadDir(filepath.Join(f.root, "etc"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("etc holds %v, want only link and motd (no temporary files)", entries)
	}
	if err := r.WriteFile("/", strings.NewReader(""), Attrs{}); err == nil {
		t.Error("writing the root succeeded")
	}
	f.assertUntouched(t)
}

func TestRootRemoveAllDoesNotFollow(t *testing.T) {
	f := newEscapeFixture(t)
	layout(t, f.root, "var/cache/a/b=1", "var/cache/abs->"+f.out, "var/cache/rel->"+f.climb(),
		"var/cache/a/sentinel->"+filepath.Join(f.out, "sentinel"), "var/keep=k")
	r := openTestRoot(t, f.root)
	if err := r.RemoveAll("/var/cache"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(f.root, "var/cache")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("var/cache still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.root, "var/keep")); err != nil {
		t.Errorf("sibling removed: %v", err)
	}
	if err := r.RemoveAll("/var/cache"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("removing a missing path: %v, want ErrNotExist", err)
	}
	if err := r.RemoveAll("/"); err == nil {
		t.Error("removing the root succeeded")
	}
	f.assertUntouched(t)
}

// TestRootRemoveAllStopsAtMountPoint mounts a tmpfs inside an image and
// checks that removal refuses to descend into it.
func TestRootRemoveAllStopsAtMountPoint(t *testing.T) {
	testenv.Root(t)
	root := t.TempDir()
	mnt := filepath.Join(root, "build", "proc")
	layout(t, root, "build/proc/", "build/file=x")
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mounting tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	inside := filepath.Join(mnt, "keep")
	if err := os.WriteFile(inside, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := openTestRoot(t, root).RemoveAll("/build")
	if err == nil || !strings.Contains(err.Error(), "/build/proc") || !strings.Contains(err.Error(), "mount point") {
		t.Errorf("RemoveAll over a mount point = %v, want a refusal naming /build/proc", err)
	}
	if _, err := os.Stat(inside); err != nil {
		t.Errorf("file on the mount removed: %v", err)
	}
}

// TestRootRemoveAllRefusesBindMounts bind-mounts a host directory into
// an image, as a chroot setup might, and checks that nothing on it can
// be removed, whether the mount is below the path or on the way to it.
func TestRootRemoveAllRefusesBindMounts(t *testing.T) {
	testenv.Root(t)
	f := newEscapeFixture(t)
	mnt := filepath.Join(f.root, "mnt", "host")
	layout(t, f.root, "mnt/host/", "mnt/other=x")
	if err := unix.Mount(f.out, mnt, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	r := openTestRoot(t, f.root)
	for _, p := range []string{"/mnt/host/sentinel", "/mnt/host", "/mnt"} {
		err := r.RemoveAll(p)
		if err == nil || !strings.Contains(err.Error(), "mount") {
			t.Errorf("RemoveAll(%s) = %v, want a refusal because of the mount", p, err)
		}
	}
	if err := unix.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	f.assertUntouched(t)
}

func TestRootReadFile(t *testing.T) {
	root := t.TempDir()
	layout(t, root, "etc/hostname=box\n", "etc/alias->/etc/hostname")
	if err := unix.Mkfifo(filepath.Join(root, "etc/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := openTestRoot(t, root)
	for name, want := range map[string]string{"/etc/hostname": "box\n", "etc/alias": "box\n"} {
		if b, err := r.ReadFile(name); err != nil || string(b) != want {
			t.Errorf("ReadFile(%s) = %q, %v", name, b, err)
		}
	}
	// A fifo would block a plain open; it must fail at once instead.
	if _, err := r.ReadFile("/etc/fifo"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadFile(fifo) = %v", err)
	}
}

func TestRootChownChmod(t *testing.T) {
	testenv.Root(t)
	f := newEscapeFixture(t)
	layout(t, f.root, "bin/tool=x", "bin/link->"+filepath.Join(f.out, "sentinel"))
	r := openTestRoot(t, f.root)
	if err := r.Lchown("/bin/tool", 1000, 1001); err != nil {
		t.Fatal(err)
	}
	if err := r.Chmod("/bin/tool", 0o4755); err != nil {
		t.Fatal(err)
	}
	if m := describe(t, filepath.Join(f.root, "bin/tool")); m.UID != 1000 || m.GID != 1001 || m.Perm != 0o4755 {
		t.Errorf("tool: %+v", m)
	}
	// On a symlink: lchown changes the link, chmod refuses.
	if err := r.Lchown("/bin/link", 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if m := describe(t, filepath.Join(f.root, "bin/link")); m.UID != 1000 {
		t.Errorf("link owner %d", m.UID)
	}
	if err := r.Chmod("/bin/link", 0o777); err == nil {
		t.Error("chmod of a symlink succeeded")
	}
	if m := describe(t, filepath.Join(f.out, "sentinel")); m.UID != 0 || m.Perm != 0o644 {
		t.Errorf("the sentinel's owner or mode changed: %+v", m)
	}
	f.assertUntouched(t)
}

// ExampleRoot shows the primitives' contract in one place.
func ExampleRoot() {
	dir, _ := os.MkdirTemp("", "root")
	defer os.RemoveAll(dir)
	_ = os.Symlink("/nowhere", filepath.Join(dir, "etc"))
	r, _ := OpenRoot(dir)
	defer r.Close()
	err := r.WriteFile("/etc/passwd", strings.NewReader(""), Attrs{UID: os.Getuid(), GID: os.Getgid(), Mode: 0o644})
	fmt.Println(err != nil)
	// Output: true
}
