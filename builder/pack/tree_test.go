package pack

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/testenv"
	"golang.org/x/sys/unix"
)

// Helpers shared by the tests: a tree with every kind of file an image
// holds, a snapshot of a tree's metadata, and extraction with GNU tar as
// LXD runs it.

var (
	pastTime   = time.Date(2001, 9, 9, 1, 46, 40, 123456789, time.UTC)
	futureTime = time.Date(2099, 1, 1, 0, 0, 0, 987654321, time.UTC)
)

// capNetRaw is a VFS_CAP_REVISION_2 security.capability granting
// cap_net_raw+ep, as `setcap cap_net_raw+ep` writes it.
var capNetRaw = string([]byte{
	0x01, 0x00, 0x00, 0x02, // magic: revision 2, effective
	0x00, 0x20, 0x00, 0x00, // permitted (low): 1<<13 CAP_NET_RAW
	0x00, 0x00, 0x00, 0x00, // inheritable (low)
	0x00, 0x00, 0x00, 0x00, // permitted (high)
	0x00, 0x00, 0x00, 0x00, // inheritable (high)
})

type treeOptions struct {
	bigSize int // size of the random file
}

// makeTree builds a test tree in dir and returns dir. Root-only entries
// (devices, foreign owners, security.capability) are added when the test
// runs as root.
func makeTree(t testing.TB, dir string, o treeOptions) string {
	t.Helper()
	root := os.Geteuid() == 0
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mkdir := func(rel string, perm uint32) {
		must(os.MkdirAll(filepath.Join(dir, rel), 0o755))
		must(unix.Chmod(filepath.Join(dir, rel), perm)) // raw bits: 0o1777 is sticky
	}
	file := func(rel string, data []byte, perm uint32) {
		p := filepath.Join(dir, rel)
		must(os.WriteFile(p, data, 0o600))
		must(unix.Chmod(p, perm)) // raw bits: 0o4755 is setuid
	}
	xattr := func(rel, name, value string) {
		must(unix.Lsetxattr(filepath.Join(dir, rel), name, []byte(value), 0))
	}

	must(os.Chmod(dir, 0o755))
	for _, d := range []string{"a/b", "a-b", "emptydir", "usr/bin", "etc", "dev"} {
		mkdir(d, 0o755)
	}
	mkdir("tmp", 0o1777)
	mkdir("private", 0o700)
	file("a/b/file.txt", bytes.Repeat([]byte("hello image\n"), 1000), 0o644)
	file("a/0", []byte("zero"), 0o644)
	file("a-b/x", []byte("x"), 0o444)
	file("empty", nil, 0o644)
	file("etc/shadow", []byte("root:*:1::::::\n"), 0o640)
	file("usr/bin/su", []byte("#!/bin/sh\n"), 0o4755)
	file("usr/bin/wall", []byte("#!/bin/sh\n"), 0o2755)
	file("usr/bin/ping", []byte("\x7fELF ping"), 0o755)
	file("café ☕.txt", []byte("utf-8 name"), 0o644)
	long := strings.Repeat("long-directory-name/", 8)
	mkdir(long, 0o755)
	file(long+strings.Repeat("f", 120), []byte("long name"), 0o644)

	big := make([]byte, o.bigSize)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(big); i += 8 {
		v := rng.Uint64()
		for k := range 8 {
			big[i+k] = byte(v >> (8 * k))
		}
	}
	file("big.bin", big, 0o644)

	// One inode, three paths, in three directories.
	file("hard1", []byte("shared inode"), 0o644)
	must(os.Link(filepath.Join(dir, "hard1"), filepath.Join(dir, "a/hard2")))
	must(os.Link(filepath.Join(dir, "hard1"), filepath.Join(dir, "usr/hard3")))

	must(os.Symlink("a/b/file.txt", filepath.Join(dir, "link-rel")))
	must(os.Symlink("/etc/passwd", filepath.Join(dir, "link-abs")))
	must(os.Symlink("nowhere", filepath.Join(dir, "link-dangling")))
	must(os.Symlink("a", filepath.Join(dir, "link-dir")))
	must(unix.Mkfifo(filepath.Join(dir, "fifo"), 0o600))

	// A socket: never archived.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	must(err)
	must(unix.Bind(fd, &unix.SockaddrUnix{Name: filepath.Join(dir, "sock")}))
	unix.Close(fd)

	xattr("a/b/file.txt", "user.note", "hello")
	xattr("a/b/file.txt", "user.binary", "\x00\x01\xff=\n")
	xattr("a", "user.dir", "on a directory")
	xattr("a/0", "user.empty", "")
	if root {
		must(unix.Mknod(filepath.Join(dir, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		must(unix.Mknod(filepath.Join(dir, "dev/loop0"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 0))))
		must(os.Lchown(filepath.Join(dir, "etc/shadow"), 0, 42))
		must(os.Lchown(filepath.Join(dir, "a/b/file.txt"), 1000, 1000))
		// ids past ustar's 7 octal digits need PAX records
		must(os.Lchown(filepath.Join(dir, "a-b"), 3000000, 3000001))
		must(os.Lchown(filepath.Join(dir, "link-rel"), 1000, 1001))
		xattr("usr/bin/ping", "security.capability", capNetRaw)
		xattr("a/0", "trusted.image", "trusted value")
	}

	// Times last, deepest first, so that making children does not move
	// their parents' mtimes again.
	times := map[string]time.Time{
		"a/b/file.txt": pastTime, "big.bin": futureTime, "a-b": futureTime,
		"link-rel": pastTime, "link-abs": futureTime, "usr/bin/su": futureTime,
		"fifo": pastTime, "empty": futureTime, "a": pastTime, ".": pastTime,
	}
	var paths []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	slices.Reverse(paths)
	for _, p := range paths {
		rel, _ := filepath.Rel(dir, p)
		tm, ok := times[rel]
		if !ok {
			tm = time.Date(2020, 2, 2, 2, 2, 2, 500, time.UTC)
		}
		ts := []unix.Timespec{unix.NsecToTimespec(tm.UnixNano()), unix.NsecToTimespec(tm.UnixNano())}
		must(unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW))
	}
	return dir
}

// node is what the tests compare of one path.
type node struct {
	Type     fs.FileMode
	Perm     uint32 // mode & 07777
	UID, GID uint32
	Mtime    int64 // seconds
	Size     int64
	SHA256   string
	Target   string
	Rdev     uint64
	Xattrs   map[string]string
	inode    uint64
}

// snapshot reads every path below dir (dir itself as ".") with lstat.
func snapshot(t testing.TB, dir string) map[string]node {
	t.Helper()
	nodes := map[string]node{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		n := node{
			Type: d.Type(), Perm: st.Mode & 0o7777, UID: st.Uid, GID: st.Gid,
			Mtime: st.Mtim.Sec, inode: st.Ino,
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFSOCK:
			return nil
		case unix.S_IFREG:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			n.Size, n.SHA256 = st.Size, hex.EncodeToString(sum[:])
		case unix.S_IFLNK:
			n.Target, _ = os.Readlink(p)
		case unix.S_IFCHR, unix.S_IFBLK:
			n.Rdev = st.Rdev
		}
		n.Xattrs, err = readXattrs(p, pathXattrs(p))
		if err != nil {
			return err
		}
		nodes[rel] = n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return nodes
}

// hardlinkGroups lists the sets of paths that share an inode.
func hardlinkGroups(nodes map[string]node) [][]string {
	byInode := map[uint64][]string{}
	for rel, n := range nodes {
		if n.Type.IsRegular() {
			byInode[n.inode] = append(byInode[n.inode], rel)
		}
	}
	var groups [][]string
	for _, g := range byInode {
		if len(g) > 1 {
			slices.Sort(g)
			groups = append(groups, g)
		}
	}
	slices.SortFunc(groups, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	return groups
}

// compareTrees checks got (extracted) against want (the source) field by
// field; mtimes in want are first clamped to epoch when it is set.
func compareTrees(t testing.TB, want, got map[string]node, epoch *time.Time) {
	t.Helper()
	for rel, w := range want {
		g, ok := got[rel]
		if !ok {
			t.Errorf("%s: missing after extraction", rel)
			continue
		}
		if epoch != nil && w.Mtime > epoch.Unix() {
			w.Mtime = epoch.Unix()
		}
		w.inode, g.inode = 0, 0
		if w.Xattrs == nil {
			w.Xattrs = map[string]string{}
		}
		if g.Xattrs == nil {
			g.Xattrs = map[string]string{}
		}
		if !equalNode(w, g) {
			t.Errorf("%s:\n got %+v\nwant %+v", rel, g, w)
		}
	}
	for rel := range got {
		if _, ok := want[rel]; !ok {
			t.Errorf("%s: extracted but not in the source", rel)
		}
	}
	if w, g := hardlinkGroups(want), hardlinkGroups(got); !slices.EqualFunc(w, g, slices.Equal) {
		t.Errorf("hard links: got %v, want %v", g, w)
	}
}

func equalNode(a, b node) bool {
	xa, xb := a.Xattrs, b.Xattrs
	a.Xattrs, b.Xattrs = nil, nil
	if a.Type != b.Type || a.Perm != b.Perm || a.UID != b.UID || a.GID != b.GID ||
		a.Mtime != b.Mtime || a.Size != b.Size || a.SHA256 != b.SHA256 ||
		a.Target != b.Target || a.Rdev != b.Rdev || len(xa) != len(xb) {
		return false
	}
	for k, v := range xa {
		if w, ok := xb[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// extract unpacks archive into a new directory with GNU tar, with the
// options LXD uses, and returns the directory.
func extract(t testing.TB, archive string) string {
	t.Helper()
	tarPath := testenv.Command(t, "tar", "tar")
	dst := t.TempDir()
	// LXD's flags (lxd/archive: --restrict --force-local --numeric-owner
	// --xattrs-include=*) plus the explicit --xattrs -p.
	cmd := exec.Command(tarPath, "--restrict", "--force-local", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", archive, "-C", dst)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	var complaints []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// The tree has mtimes in 2099 on purpose; tar says so.
		if line != "" && !strings.Contains(line, "s in the future") {
			complaints = append(complaints, line)
		}
	}
	if err != nil || len(complaints) > 0 {
		t.Fatalf("tar -x %s: %v\n%s", archive, err, strings.Join(complaints, "\n"))
	}
	return dst
}

// run runs a command and fails the test with its output if it fails.
func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// writeFile writes the output of fn to a new file and returns its path.
func writeFile(t testing.TB, name string, fn func(w io.Writer) error) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := fn(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}
