package treediff

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
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
func TestUnifiedImageAndOutputDirectory(t *testing.T) {
	tmp := t.TempDir()
	unified := writeTar(t, tmp, "u.tar", "none", file("metadata.yaml", "architecture: x86_64\n"), dir("rootfs/"), dir("rootfs/etc/"), file("rootfs/etc/motd", "hi\n"))
	split := writeTar(t, tmp, "rootfs.tar", "none", dir("./"), dir("etc/"), file("etc/motd", "hi\n"))
	r := compare(t, unified, split)
	want := []string{"added /", "removed /metadata.yaml", "removed /rootfs", "removed /rootfs/etc", "removed /rootfs/etc/motd", "added /etc", "added /etc/motd"}
	slices.Sort(want)
	got := summary(r)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("whole unified image against a rootfs: %v", got)
	}
	// The rootfs part alone.
	s, err := Open(unified)
	if err != nil {
		t.Fatal(err)
	}
	s.Prefix = unifiedRootfs
	ta, err := Read(context.Background(), s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := Open(split)
	tb, err := Read(context.Background(), sb, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := CompareTrees(ta, tb); !r.Same() {
		t.Errorf("unified rootfs against the split one: %v", summary(r))
	}
}

// writeOutput makes dir an output directory of a split image (files
// metadata then rootfs), a VM image (metadata then a .qcow2 disk) or a
// unified one (one file), with its image.json.
func writeOutput(t *testing.T, dir string, files ...string) {
	t.Helper()
	fingerprint := sha256.New()
	var records []string
	roles := []string{"metadata", "rootfs"}
	typ := "split"
	if len(files) == 1 {
		roles, typ = []string{"unified"}, "unified"
	}
	for i, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fingerprint.Write(data)
		records = append(records, fmt.Sprintf(`{"name":%q,"role":%q,"sha256":"%x","size":%d}`, filepath.Base(p), roles[i], sha256.Sum256(data), len(data)))
	}
	disk := ""
	if strings.HasSuffix(files[len(files)-1], ".qcow2") {
		records[1] = strings.Replace(records[1], `"role":"rootfs"`, `"role":"disk"`, 1)
		typ = "virtual-machine"
		disk = `"disk":{"format":"qcow2","size":4294967296,"filesystem":"ext4","secure_boot":true,
"disk_guid":"3b8c9f57-6a0e-4d4b-9c71-0f3e2a5d8e11","esp_partuuid":"a1c3e5f7-0b2d-4f68-8a9c-1e3f5a7c9b0d",
"root_partuuid":"5d7f9b1c-3e5a-4c7e-9f1b-3d5f7a9c1e3b","esp_serial":"1A2B-3C4D","root_uuid":"9e8d7c6b-5a49-4382-a716-f5e4d3c2b1a0"},`
	}
	j := fmt.Sprintf(`{"fingerprint":"%x","type":%q,"architecture":"x86_64","properties":{},"files":[%s],%s"packages":[]}`,
		fingerprint.Sum(nil), typ, strings.Join(records, ","), disk)
	mustWrite(t, filepath.Join(dir, "image.json"), j, 0o644)
}

// addSBOM writes dir/sbom.spdx.json and records it in dir/image.json.
func addSBOM(t *testing.T, dir, content string) {
	t.Helper()
	mustWrite(t, filepath.Join(dir, "sbom.spdx.json"), content, 0o644)
	p := filepath.Join(dir, "image.json")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	j["sbom"] = map[string]any{"name": "sbom.spdx.json", "format": "spdx-2.3+json", "sha256": fmt.Sprintf("%x", sha256.Sum256([]byte(content))), "size": len(content)}
	if data, err = json.Marshal(j); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, p, string(data), 0o644)
}

func TestOpenRootfsOfOutputDirectory(t *testing.T) {
	tmp := t.TempDir()
	rootfs := writeTar(t, tmp, "rootfs.tar.gz", "gzip", dir("./"), file("motd", "x"))
	writeOutput(t, tmp, writeTar(t, tmp, "lxd.tar.gz", "gzip", file("metadata.yaml", "x")), rootfs)
	s, err := Open(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if s.Path != rootfs || s.Kind != KindArchive || s.Prefix != "" {
		t.Errorf("Open(split output directory) = %+v, want its rootfs file", s)
	}
	unified := t.TempDir()
	writeOutput(t, unified, writeTar(t, unified, "u.tar.xz", "xz", file("metadata.yaml", "x"), dir("rootfs/")))
	if s, err = Open(unified); err != nil || s.Prefix != "rootfs/" || s.Kind != KindArchive {
		t.Errorf("Open(unified output directory) = %+v, %v; want its tarball's rootfs/", s, err)
	}
}

func TestCompareImages(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	meta := []member{file("metadata.yaml", "architecture: x86_64\n")}
	writeOutput(t, a, writeTar(t, a, "lxd.tar.gz", "gzip", meta...),
		writeTar(t, a, "rootfs.tar.gz", "gzip", dir("./"), dir("etc/"), file("etc/build-time", "1700000000\n")))
	writeOutput(t, b, writeTar(t, b, "lxd.tar.gz", "gzip", meta...),
		writeTar(t, b, "rootfs.tar.gz", "gzip", dir("./"), dir("etc/"), file("etc/build-time", "1700000009\n")))
	r, err := CompareImages(context.Background(), a, b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Same() || len(r.Files) != 2 || !r.Files[0].Same() || r.Files[1].Same() || r.Files[1].Tree == nil {
		t.Fatalf("report %+v", r)
	}
	if got := summary(*r.Files[1].Tree); !slices.Equal(got, []string{"changed /etc/build-time content"}) {
		t.Errorf("rootfs differences %v", got)
	}
	var out strings.Builder
	if err := r.Write(&out, 0); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fingerprint ", "\n          ≠ ", "rootfs.tar.gz (rootfs) differs: sha256 ", "\n  changed /etc/build-time: content\n      content 11 bytes"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "lxd.tar.gz") {
		t.Errorf("the report names a file that is the same:\n%s", out.String())
	}

	// The same tree compressed otherwise: the files differ, the trees
	// do not.
	c := t.TempDir()
	writeOutput(t, c, writeTar(t, c, "lxd.tar.gz", "gzip", meta...),
		writeTar(t, c, "rootfs.tar.gz", "gzip-1", dir("./"), dir("etc/"), file("etc/build-time", "1700000000\n")))
	if r, err = CompareImages(context.Background(), a, c); err != nil {
		t.Fatal(err)
	}
	if r.Same() || r.Files[1].Note != NoteSameTrees || !r.Files[1].Tree.Same() {
		t.Errorf("same trees, other encoding: %+v", r.Files[1])
	}
	// A VM's disk is named, not read.
	vmA, vmB := t.TempDir(), t.TempDir()
	mustWrite(t, filepath.Join(vmA, "disk.qcow2"), "QFI\xfb one", 0o644)
	mustWrite(t, filepath.Join(vmB, "disk.qcow2"), "QFI\xfb two", 0o644)
	writeOutput(t, vmA, writeTar(t, vmA, "lxd.tar.gz", "gzip", meta...), filepath.Join(vmA, "disk.qcow2"))
	writeOutput(t, vmB, writeTar(t, vmB, "lxd.tar.gz", "gzip", meta...), filepath.Join(vmB, "disk.qcow2"))
	if r, err = CompareImages(context.Background(), vmA, vmB); err != nil {
		t.Fatal(err)
	}
	if r.Same() || r.Files[1].Role != "disk" || r.Files[1].Note != NoteDisk || r.Files[1].Tree != nil {
		t.Errorf("VM disks: %+v", r.Files)
	}
	if _, err := Open(vmA); err == nil || !strings.Contains(err.Error(), "reads no qcow2") {
		t.Errorf("Open(VM output directory) = %v", err)
	}
	// Same images, SBOMs that differ: not the same, and the first
	// differing line shown.
	sbomA, sbomB := t.TempDir(), t.TempDir()
	for _, d := range []string{sbomA, sbomB} {
		writeOutput(t, d, writeTar(t, d, "lxd.tar.gz", "gzip", meta...), writeTar(t, d, "rootfs.tar.gz", "gzip", dir("./")))
	}
	addSBOM(t, sbomA, "{\n  \"created\": \"2023-11-14T22:13:20Z\"\n}\n")
	addSBOM(t, sbomB, "{\n  \"created\": \"2026-12-03T08:00:00Z\"\n}\n")
	if r, err = CompareImages(context.Background(), sbomA, sbomB); err != nil {
		t.Fatal(err)
	}
	if r.Same() || r.FingerprintA != r.FingerprintB || r.SBOM == nil || r.SBOM.FirstDifference != `line 2: "  \"created\": \"2023-11-14T22:13:20Z\"" → "  \"created\": \"2026-12-03T08:00:00Z\""` {
		t.Errorf("SBOMs that differ: %+v", r.SBOM)
	}
	out.Reset()
	if err := r.Write(&out, 0); err != nil {
		t.Fatal(err)
	}
	if want := "sbom.spdx.json (sbom) differs: sha256 "; !strings.Contains(out.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, out.String())
	}
	addSBOM(t, sbomB, "{\n  \"created\": \"2023-11-14T22:13:20Z\"\n}\n")
	if r, err = CompareImages(context.Background(), sbomA, sbomB); err != nil || !r.Same() {
		t.Errorf("the same SBOMs: %+v, %v", r.SBOM, err)
	}

	if r, err = CompareImages(context.Background(), a, a); err != nil || !r.Same() {
		t.Errorf("an image against itself: %+v, %v", r, err)
	}
}

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
