package lock

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/builder-images/builder/builder/image"
)

func sample() *File {
	f := &File{}
	f.Put(Block{Key: Key{Architecture: "amd64", Variant: "default", InstanceType: "vm"},
		Packages: []Package{{Name: "linux-image-cloud-amd64", Version: "6.1.129-1", Architecture: "amd64"}}})
	f.Put(Block{Key: Key{Architecture: "amd64", Variant: "default", InstanceType: "container"}, Mirror: "http://mirror.example/debian",
		Inputs: []Input{{Path: "files/a.conf", Step: `file "/etc/a.conf"`, Digest: "sha256:" + strings.Repeat("ab", 16)}},
		Packages: []Package{
			{Name: "libc6", Version: "2.36-9+deb12u9", Architecture: "amd64", Source: "glibc"},
			{Name: "adduser", Version: "3.134", Architecture: "all"},
			{Name: "libc6", Version: "2.36-9+deb12u9", Architecture: "i386", Source: "glibc"},
			{Name: "base-files", Version: "1:12.4+deb12u9", Architecture: "amd64"},
		}})
	return f
}

// TestCodecRoundTrip: what Encode writes, Parse reads back the same,
// sorted; the header comes first.
func TestCodecRoundTrip(t *testing.T) {
	f := sample()
	data := Encode(f)
	if !strings.HasPrefix(string(data), Header) {
		t.Errorf("no header:\n%s", data)
	}
	for _, want := range []string{"build {\n  architecture  = \"amd64\"\n  variant       = \"default\"\n  instance_type = \"container\"\n",
		"  package \"adduser\" {\n    version      = \"3.134\"\n    architecture = \"all\"\n  }\n",
		"    source       = \"glibc\"\n", "  input \"files/a.conf\" {\n    step   = \"file \\\"/etc/a.conf\\\"\"\n"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("encoded lock lacks %q:\n%s", want, data)
		}
	}
	got, err := Parse(data, "x.lock.hcl")
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if len(got.Blocks) != 2 || got.Blocks[0].InstanceType != "container" || got.Blocks[1].InstanceType != "vm" {
		t.Fatalf("blocks %+v", got.Blocks)
	}
	if !slices.Equal(got.Blocks[0].Packages, f.Blocks[0].Packages) || !slices.Equal(got.Blocks[0].Inputs, f.Blocks[0].Inputs) || got.Blocks[0].Mirror != f.Blocks[0].Mirror {
		t.Errorf("round trip:\n got %+v\nwant %+v", got.Blocks[0], f.Blocks[0])
	}
	if names := []string{got.Blocks[0].Packages[0].Name, got.Blocks[0].Packages[1].Name}; names[0] != "adduser" || names[1] != "base-files" {
		t.Errorf("packages not sorted: %v", names)
	}
	// Put replaces a block and keeps the others.
	f.Put(Block{Key: Key{Architecture: "amd64", Variant: "default", InstanceType: "vm"}})
	if len(f.Blocks) != 2 || len(f.Blocks[1].Packages) != 0 || len(f.Blocks[0].Packages) != 4 {
		t.Errorf("after Put: %+v", f.Blocks)
	}
	path := filepath.Join(t.TempDir(), "r.lock.hcl")
	if err := Write(path, f); err != nil {
		t.Fatal(err)
	}
	if back, err := Read(path); err != nil || len(back.Blocks) != 2 {
		t.Errorf("Read: %v %+v", err, back)
	}
}

// TestParseErrors: each error names file:line:col, and what a lock holds
// is checked (it reaches apt preferences).
func TestParseErrors(t *testing.T) {
	head := "build {\n  architecture = \"amd64\"\n  variant = \"\"\n  instance_type = \"container\"\n"
	for _, tc := range []struct{ src, want string }{
		{"build {\n", "x.lock.hcl:"},
		{"foo = 1\n", `x.lock.hcl:1:1: unexpected attribute "foo"`},
		{"build \"x\" {\n}\n", "x.lock.hcl:1:1: unexpected block build"},
		{"build {\n  variant = \"\"\n}\n", `missing attribute "architecture"`},
		{head + "  package \"a\" {\n    version = \"1\\nPackage: b\"\n    architecture = \"all\"\n  }\n}\n", `x.lock.hcl:6:15: version "1\nPackage: b" is not valid here`},
		{head + "  package \"A b\" {\n    version = \"1\"\n    architecture = \"all\"\n  }\n}\n", `x.lock.hcl:5:11: "A b" is not a Debian package name`},
		{head + "  package \"a\" {\n    version = 1\n    architecture = \"all\"\n  }\n}\n", "x.lock.hcl:6:15: version must be a string"},
		{head + "  package \"a\" {\n    version = \"1\"\n    architecture = \"all\"\n  }\n  package \"a\" {\n    version = \"2\"\n    architecture = \"all\"\n  }\n}\n", "x.lock.hcl:9:3: package a (all) is locked twice (also at line 5)"},
		{head + "  input \"f\" {\n    step = \"x\"\n    digest = \"md5:1\"\n  }\n}\n", `digest "md5:1" is not valid here`},
		{head + "}\n" + head + "}\n", "x.lock.hcl:6:1: a second build block for amd64 (no variant) container (the first is at line 1)"},
		{head + "  mirror = \"http://m.example/\"\n  other = \"x\"\n}\n", `x.lock.hcl:6:3: unexpected attribute "other"`},
	} {
		_, err := Parse([]byte(tc.src), "x.lock.hcl")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.src, err, tc.want)
		}
	}
}

// TestCompare: added, removed and changed packages, by name and
// architecture.
func TestCompare(t *testing.T) {
	locked := []Package{{Name: "a", Version: "1", Architecture: "all"}, {Name: "b", Version: "1", Architecture: "amd64"}, {Name: "c", Version: "1", Architecture: "amd64"}}
	installed := []Package{{Name: "a", Version: "1", Architecture: "all"}, {Name: "b", Version: "2", Architecture: "amd64"}, {Name: "d", Version: "1", Architecture: "amd64"}}
	d := Compare(locked, installed)
	want := []string{"+ d=1 (amd64) (not in the lock)", "- c=1 (amd64) (locked, not installed)", "~ b (amd64): locked 1, installed 2"}
	if got := d.Lines(); !slices.Equal(got, want) {
		t.Errorf("diff:\n got %q\nwant %q", got, want)
	}
	if d := Compare(locked, locked); !d.Empty() {
		t.Errorf("a lock differs from itself: %+v", d)
	}
	if got := FromImage([]image.Package{{Name: "z", Version: "1", Architecture: "all"}, {Name: "a", Version: "2", Architecture: "amd64", Source: "s"}}); got[0].Name != "a" || got[0].Source != "s" || got[1].String() != "z=1 (all)" {
		t.Errorf("FromImage: %v", got)
	}
}

// TestPins: one pin per name; a name locked at two versions (two
// architectures) is not pinned.
func TestPins(t *testing.T) {
	b := Block{Packages: []Package{{Name: "a", Version: "1", Architecture: "amd64"}, {Name: "a", Version: "1", Architecture: "i386"},
		{Name: "b", Version: "1", Architecture: "amd64"}, {Name: "b", Version: "2", Architecture: "i386"}, {Name: "c", Version: "1:3~rc1", Architecture: "all"}}}
	if got := b.Pins(); !slices.Equal(got, []string{"a=1", "c=1:3~rc1"}) {
		t.Errorf("pins %v", got)
	}
}

// TestPathFor: the lock sits beside the recipe.
func TestPathFor(t *testing.T) {
	if got := PathFor("recipes/debian.hcl"); got != "recipes/debian.lock.hcl" {
		t.Errorf("PathFor = %s", got)
	}
}

// TestCheckInputs: every kind of difference names the input.
func TestCheckInputs(t *testing.T) {
	locked := []Input{{Path: "a", Step: "s", Digest: "sha256:1"}, {Path: "b", Step: "s", Digest: "sha256:2"}}
	if err := CheckInputs(locked, locked); err != nil {
		t.Errorf("same inputs: %v", err)
	}
	err := CheckInputs(locked, []Input{{Path: "a", Step: "s", Digest: "sha256:9"}, {Path: "c", Step: "s", Digest: "sha256:3"}})
	for _, want := range []string{"input a (s) has digest sha256:9, the lock sha256:1", "input c (s) is not in the lock", "input b (s) is in the lock but the build no longer reads it"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
}

// TestRelPath: inputs inside the recipe's directory are relative.
func TestRelPath(t *testing.T) {
	dir := t.TempDir()
	if got := relPath(dir, filepath.Join(dir, "files/x")); got != "files/x" {
		t.Errorf("inside: %s", got)
	}
	if got := relPath(dir, "/usr/share/keyrings/k.gpg"); got != "/usr/share/keyrings/k.gpg" {
		t.Errorf("outside: %s", got)
	}
}

// TestParseIndex: every paragraph's name, version and architecture.
func TestParseIndex(t *testing.T) {
	avail := map[string]bool{}
	idx := "Package: a\nVersion: 1\nArchitecture: all\nDescription: x\n continued\n\nPackage: b\nArchitecture: amd64\nVersion: 2:1.0-1\n"
	if err := ParseIndex(strings.NewReader(idx), avail); err != nil {
		t.Fatal(err)
	}
	if !avail["a 1 all"] || !avail["b 2:1.0-1 amd64"] || len(avail) != 2 {
		t.Errorf("index: %v", avail)
	}
	missing := Missing(avail, []Package{{Name: "a", Version: "1", Architecture: "all"}, {Name: "b", Version: "2:1.0-2", Architecture: "amd64"}})
	if len(missing) != 1 || missing[0].String() != "b=2:1.0-2 (amd64)" {
		t.Errorf("missing %v", missing)
	}
	err := &MissingError{Key: Key{"amd64", "default", "container"}, Missing: missing}
	if !strings.Contains(err.Error(), "b=2:1.0-2 (amd64)") {
		t.Errorf("error: %v", err)
	}
}

// TestWriteAtomic: builder lock (as root) writes the lock through a new
// temporary file: one planted where a fixed temporary name would be (a
// symlink to another file) is not written through, no temporary file
// stays, and the lock is readable by all.
func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.lock.hcl")
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("untouched"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, path+".tmp"); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, sample()); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(victim); string(data) != "untouched" {
		t.Errorf("Write wrote through the symlink %s.tmp: %q", path, data)
	}
	info, err := os.Lstat(path)
	if err != nil || !info.Mode().IsRegular() || info.Mode().Perm() != 0o644 {
		t.Errorf("the lock file: %v %v", info.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if n := e.Name(); n != "r.lock.hcl" && n != "victim" && n != "r.lock.hcl.tmp" {
			t.Errorf("left behind: %s", n)
		}
	}
	if f, err := Read(path); err != nil || len(f.Blocks) != 2 {
		t.Errorf("Read after Write: %v", err)
	}
}

// TestReadNotRegular: --lock naming a FIFO or a directory is an error,
// not a read that blocks or never ends.
func TestReadNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.lock.hcl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Read(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Read(FIFO) = %v", err)
		}
	case <-time.After(5 * time.Second):
		// Unblock the reader so that the test ends.
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		t.Fatal("Read blocked on a FIFO")
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Read(directory) = %v", err)
	}
}

// TestParseHostile: what a hand-edited lock could smuggle into the
// archive check is refused at its position: a mirror with spaces or
// apt options (it becomes a sources.list line), a second digest for one
// input (either would pass).
func TestParseHostile(t *testing.T) {
	head := "build {\n  architecture = \"amd64\"\n  instance_type = \"container\"\n"
	for _, tc := range []struct{ src, want string }{
		{head + "  mirror = \"http://m.example/debian bookworm main contrib\"\n}\n", `x.lock.hcl:4:12: mirror "http://m.example/debian bookworm main contrib" is not an http, https or file URL`},
		{head + "  mirror = \"[trusted=yes]\"\n}\n", "x.lock.hcl:4:12: mirror"},
		{head + "  mirror = \"ftp://m.example/debian\"\n}\n", "x.lock.hcl:4:12: mirror"},
		{head + "  input \"f\" {\n    step = \"x\"\n    digest = \"sha256:" + strings.Repeat("a", 64) + "\"\n  }\n  input \"f\" {\n    step = \"x\"\n    digest = \"sha256:" + strings.Repeat("b", 64) + "\"\n  }\n}\n",
			`x.lock.hcl:8:3: input "f" (x) is locked twice (also at line 4)`},
	} {
		_, err := Parse([]byte(tc.src), "x.lock.hcl")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.src, err, tc.want)
		}
	}
	for _, ok := range []string{"http://m.example/debian", "https://m.example/debian/", "file:///srv/mirror"} {
		if _, err := Parse([]byte(head+"  mirror = \""+ok+"\"\n}\n"), "x.lock.hcl"); err != nil {
			t.Errorf("mirror %s: %v", ok, err)
		}
	}
}
