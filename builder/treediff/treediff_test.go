package treediff

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/pack"
	"github.com/builder-images/builder/internal/testenv"
)

var t0 = time.Unix(1700000000, 0).UTC()

// member is one crafted tar entry.
type member struct {
	h    tar.Header
	data string
}

func file(name, data string) member {
	return member{h: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: t0, Size: int64(len(data))}, data: data}
}

func dir(name string) member {
	return member{h: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: t0}}
}

// writeTar writes members as a tar archive at dir/name, compressed with c
// ("none" for a plain one).
func writeTar(t *testing.T, dirPath, name, c string, members ...member) string {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, m := range members {
		h := m.h
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(m.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	comp, err := pack.ParseCompression(c)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cw, err := pack.NewCompressor(comp, &out, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cw.Write(raw.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dirPath, name)
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func compare(t *testing.T, a, b string) Report {
	t.Helper()
	sa, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Compare(context.Background(), sa, sb)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// summary is the report as "KIND PATH WHAT,WHAT" lines.
func summary(r Report) []string {
	var lines []string
	for _, e := range r.Entries {
		lines = append(lines, strings.TrimSpace(e.Kind+" "+e.Path+" "+strings.Join(e.What, ",")))
	}
	return lines
}

func TestCompareEachKindOfDifference(t *testing.T) {
	base := []member{
		dir("./"), dir("etc/"), file("etc/content", "one"), file("etc/mode", "x"), file("etc/owner", "x"),
		file("etc/mtime", "x"), file("etc/xattr", "x"), file("etc/removed", "x"),
		{h: tar.Header{Name: "etc/link", Typeflag: tar.TypeSymlink, Linkname: "content", Mode: 0o777, ModTime: t0}},
		{h: tar.Header{Name: "etc/hard", Typeflag: tar.TypeLink, Linkname: "etc/content", ModTime: t0}},
		{h: tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666, ModTime: t0}},
		file("etc/type", "x"),
		file("same", "same"),
	}
	changed := slices.Clone(base)
	set := func(name string, f func(m *member)) {
		for i := range changed {
			if strings.TrimSuffix(changed[i].h.Name, "/") == name {
				f(&changed[i])
				return
			}
		}
		t.Fatalf("no member %s", name)
	}
	set("etc/content", func(m *member) { m.data, m.h.Size = "two!", 4 })
	set("etc/mode", func(m *member) { m.h.Mode = 0o4755 })
	set("etc/owner", func(m *member) { m.h.Uid, m.h.Gid = 1000, 100 })
	set("etc/mtime", func(m *member) { m.h.ModTime = t0.Add(time.Second) })
	set("etc/xattr", func(m *member) { m.h.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": "\x01\x00"} })
	set("etc/link", func(m *member) { m.h.Linkname = "mode" })
	set("etc/hard", func(m *member) {
		m.h = tar.Header{Name: "etc/hard", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: t0, Size: 4}
		m.data = "two!"
	})
	set("dev/null", func(m *member) { m.h.Devminor = 5 })
	set("etc/type", func(m *member) { *m = dir("etc/type/") })
	changed = slices.DeleteFunc(changed, func(m member) bool { return m.h.Name == "etc/removed" })
	changed = append(changed, file("etc/added", "new"))

	tmp := t.TempDir()
	r := compare(t, writeTar(t, tmp, "a.tar", "none", base...), writeTar(t, tmp, "b.tar.gz", "gzip", changed...))
	want := []string{
		"changed /dev/null device",
		"added /etc/added",
		"changed /etc/content content",
		// A link to /etc/content in A, its own file in B.
		"changed /etc/hard content,hardlink",
		"changed /etc/link link",
		"changed /etc/mode mode",
		"changed /etc/mtime mtime",
		"changed /etc/owner owner",
		"removed /etc/removed",
		"changed /etc/type type",
		"changed /etc/xattr xattr",
	}
	if got := summary(r); !slices.Equal(got, want) {
		t.Errorf("report:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var out strings.Builder
	if err := r.Write(&out, 0); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"changed /etc/mode: mode\n    mode 0644 → 4755\n",
		"    owner 0:0 → 1000:100\n",
		"    mtime 2023-11-14T22:13:20Z → 2023-11-14T22:13:21Z\n",
		"    xattr \"security.capability\" added\n",
		"    link \"content\" → \"mode\"\n",
		"    hardlink a link to /etc/content → its own file\n",
		"    type file → directory\n",
		"    device 1:3 → 1:5\n",
		"added   /etc/added (file, 3 bytes)\n",
		"    content 3 bytes, sha256 7692c3ad3540 → 4 bytes, sha256 ",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("report lacks %q:\n%s", line, out.String())
		}
	}
	out.Reset()
	if err := r.Write(&out, 2); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.String(), "… and 9 more paths\n") {
		t.Errorf("a limited report ends %q", out.String())
	}
}

func TestCompareSameAcrossCompressions(t *testing.T) {
	members := []member{dir("./"), dir("etc/"), file("etc/hostname", "h\n"),
		{h: tar.Header{Name: "etc/h2", Typeflag: tar.TypeLink, Linkname: "./etc/hostname", ModTime: t0}}}
	tmp := t.TempDir()
	plain := writeTar(t, tmp, "plain.tar", "none", members...)
	for _, c := range []string{"gzip", "xz", "zstd"} {
		if r := compare(t, plain, writeTar(t, tmp, "c.tar."+c, c, members...)); !r.Same() {
			t.Errorf("%s: %v", c, summary(r))
		}
	}
}

// A unified image read whole has its metadata beside /rootfs; its
// rootfs alone (an output directory) compares with a split rootfs.
func TestDirectoryAgainstItsTarball(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "etc/motd"), "hi\n", 0o644)
	mustWrite(t, filepath.Join(root, "bin/tool"), "#!/bin/sh\n", 0o755)
	if err := os.Link(filepath.Join(root, "bin/tool"), filepath.Join(root, "bin/tool2")); err != nil {
		t.Fatal(err)
	}
	// A symlink out of the tree is compared as a link, never followed.
	if err := os.Symlink("/etc", filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"etc/motd", "bin/tool", "bin", "etc", "escape", "."} {
		if err := lchtimes(filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	tarball := filepath.Join(t.TempDir(), "rootfs.tar")
	f, err := os.Create(tarball)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pack.WriteTree(context.Background(), f, root, pack.TarOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if r := compare(t, root, tarball); !r.Same() {
		t.Fatalf("a directory and its tarball differ: %v", summary(r))
	}

	// Every difference a user without root can make.
	mustWrite(t, filepath.Join(root, "etc/motd"), "changed\n", 0o644)
	if err := os.Chmod(filepath.Join(root, "bin/tool"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(root, "etc/motd"), t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/usr", filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"escape", "."} {
		if err := lchtimes(filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	r := compare(t, tarball, root)
	want := []string{"changed /bin/tool mode", "changed /bin/tool2 mode", "changed /escape link", "changed /etc/motd content,mtime"}
	if got := summary(r); !slices.Equal(got, want) {
		t.Errorf("report %v, want %v", got, want)
	}
}

// lchtimes sets a path's times to t0, a symlink's own included.
func lchtimes(p string) error {
	ts := []unix.Timespec{unix.NsecToTimespec(t0.UnixNano()), unix.NsecToTimespec(t0.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func mustWrite(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func TestSquashfs(t *testing.T) {
	testenv.Command(t, "mksquashfs", "squashfs-tools")
	testenv.Command(t, "sqfs2tar", "squashfs-tools-ng")
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "etc/motd"), "hi\n", 0o644)
	if err := os.Symlink("motd", filepath.Join(root, "etc/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "etc/motd"), filepath.Join(root, "etc/motd2")); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	squash := func(name string) string {
		p := filepath.Join(tmp, name)
		if _, err := pack.WriteSquashfs(context.Background(), root, p, pack.SquashfsOptions{Compression: pack.Compression{Algorithm: mustAlg(t, "gzip"), Level: 6}, Epoch: &t0}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := squash("a.squashfs")
	mustWrite(t, filepath.Join(root, "etc/motd"), "changed\n", 0o600)
	b := squash("b.squashfs")
	s, err := Open(a)
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != KindSquashfs {
		t.Fatalf("Open(squashfs).Kind = %q", s.Kind)
	}
	r := compare(t, a, b)
	want := []string{"changed /etc/motd content,mode", "changed /etc/motd2 content,mode"}
	if got := summary(r); !slices.Equal(got, want) {
		t.Errorf("report %v, want %v", got, want)
	}
	tr, err := Read(context.Background(), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := tr.Nodes["/"]; n == nil || n.Type != TypeDir {
		t.Errorf("the squashfs's root is not read: %+v", n)
	}
	if n := tr.Nodes["/etc/motd2"]; n == nil || n.Hardlink != "/etc/motd" || n.Size != 3 {
		t.Errorf("hard link: %+v", n)
	}
}

func mustAlg(t *testing.T, name string) pack.Algorithm {
	c, err := pack.ParseCompression(name)
	if err != nil {
		t.Fatal(err)
	}
	return c.Algorithm
}

// Hostile archive names: nothing is extracted, so they can only try to
// forge report lines or merge with another path.
func TestHostileNames(t *testing.T) {
	tmp := t.TempDir()
	forged := "etc/x\nchanged /etc/shadow: content"
	a := writeTar(t, tmp, "a.tar", "none", file("../../etc/passwd", "a"), file(forged, "a"), file("etc/\x1b[2Jclear", "a"), file("/abs", "a"))
	b := writeTar(t, tmp, "b.tar", "none", file("../../etc/passwd", "b"), file(forged, "b"), file("etc/\x1b[2Jclear", "b"), file("abs", "b"))
	r := compare(t, a, b)
	var out strings.Builder
	if err := r.Write(&out, 0); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"changed /../../etc/passwd: content\n",
		`changed "/etc/x\nchanged /etc/shadow: content": content` + "\n",
		`changed "/etc/\x1b[2Jclear": content` + "\n",
		"changed /abs: content\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "\x1b") || strings.Count(text, "\n") != 8 {
		t.Errorf("a name escaped its line:\n%s", text)
	}

	// A hard link to a name the archive does not hold is refused.
	bad := writeTar(t, tmp, "bad.tar", "none", member{h: tar.Header{Name: "x", Typeflag: tar.TypeLink, Linkname: "/etc/shadow"}})
	s, err := Open(bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Read(context.Background(), s, Options{}); err == nil || !strings.Contains(err.Error(), "does not hold") {
		t.Errorf("dangling hard link: %v", err)
	}
}

func TestCapture(t *testing.T) {
	tmp := t.TempDir()
	p := writeTar(t, tmp, "a.tar", "none", dir("var/lib/dpkg/info/"), file("var/lib/dpkg/info/a.list", "/usr/bin/a\n"), file("usr/bin/a", "ELF"))
	s, _ := Open(p)
	tr, err := Read(context.Background(), s, Options{Capture: func(p string) bool { return strings.HasSuffix(p, ".list") }})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(tr.Files["/var/lib/dpkg/info/a.list"]); got != "/usr/bin/a\n" || len(tr.Files) != 1 {
		t.Errorf("captured %q", tr.Files)
	}
	if _, err := Read(context.Background(), s, Options{Capture: func(string) bool { return true }, MaxCapture: 5}); err == nil || !strings.Contains(err.Error(), "exceed 5 bytes") {
		t.Errorf("capture past the limit: %v", err)
	}
}

func TestOpenRefusesUnknown(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x")
	mustWrite(t, p, strings.Repeat("not an archive ", 40), 0o644)
	if _, err := Open(p); err == nil || !strings.Contains(err.Error(), "unknown archive format") {
		t.Errorf("Open(text file) = %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Open(missing) succeeded")
	}
}

func TestComparePathsOrder(t *testing.T) {
	paths := []string{"/a-b", "/a/b", "/", "/a"}
	slices.SortFunc(paths, pack.CompareNames)
	if want := []string{"/", "/a", "/a/b", "/a-b"}; !slices.Equal(paths, want) {
		t.Errorf("order %v, want %v", paths, want)
	}
}
