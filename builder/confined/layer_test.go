package confined

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// applyLayers applies each tar in order to a fresh root and returns it,
// or the first layer's error.
func applyLayers(t *testing.T, maxSize int64, layers ...[]byte) (string, error) {
	t.Helper()
	root := t.TempDir()
	l, err := OpenLayers(root, maxSize)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, layer := range layers {
		if err := l.Apply(context.Background(), bytes.NewReader(layer)); err != nil {
			return root, err
		}
	}
	return root, nil
}

// exists says whether name is in root, not following a symlink there.
func exists(root, name string) bool {
	_, err := os.Lstat(filepath.Join(root, name))
	return err == nil
}

func TestLayersWhiteouts(t *testing.T) {
	base := makeTar(t,
		dir("etc/"), file("etc/keep", "k"), file("etc/doomed", "d"),
		dir("etc/doomed.d/"), file("etc/doomed.d/x", "x"),
		dir("opt/"), dir("opt/old/"), file("opt/old/a", "a"), dir("opt/old/sub/"), file("opt/old/sub/b", "b"),
		dir("srv/"), file("srv/lower", "l"),
		dir("var/"), dir("var/tree/"), file("var/tree/f", "f"),
	)
	top := makeTar(t,
		dir("etc/"),
		file("etc/.wh.doomed", ""),
		file("etc/.wh.doomed.d", ""),
		file("etc/.wh.never-there", ""),
		// The opaque marker comes after the directory, as Docker writes
		// it; what the layer puts in the directory after it stays.
		dir("opt/old/"), file("opt/old/.wh..wh..opq", ""),
		file("opt/old/new", "n"), dir("opt/old/sub/"), file("opt/old/sub/c", "c"),
		// A marker after entries of its directory keeps them too.
		file("srv/mine", "m"), file("srv/.wh..wh..opq", ""),
		// aufs metadata is skipped, never created.
		file(".wh..wh.plnk", ""),
		// A non-directory replaces a directory that is not empty.
		file("var/tree", "now a file"),
		// A whiteout of what this layer itself created keeps it.
		file("etc/fresh", "f"), file("etc/.wh.fresh", ""),
	)
	root, err := applyLayers(t, 0, base, top)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"etc/keep": true, "etc/doomed": false, "etc/doomed.d": false, "etc/fresh": true,
		"opt/old/a": false, "opt/old/sub/b": false, "opt/old/new": true, "opt/old/sub/c": true,
		"srv/lower": false, "srv/mine": true,
		"etc/.wh.doomed": false, "opt/old/.wh..wh..opq": false, ".wh..wh.plnk": false, "srv/.wh..wh..opq": false,
	} {
		if got := exists(root, name); got != want {
			t.Errorf("/%s exists: %v, want %v", name, got, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "var/tree")); err != nil || string(b) != "now a file" {
		t.Errorf("/var/tree: %q, %v", b, err)
	}
}

func TestLayersWhiteoutKeepsDirectoryTime(t *testing.T) {
	when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	d := dir("etc/")
	d.hdr.ModTime = when
	root, err := applyLayers(t, 0, makeTar(t, d, file("etc/doomed", "d")), makeTar(t, file("etc/.wh.doomed", "")))
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(root, "etc"))
	if err != nil {
		t.Fatal(err)
	}
	if !st.ModTime().Equal(when) {
		t.Errorf("/etc's mtime after a whiteout: %v, want %v", st.ModTime(), when)
	}
}

// TestLayersHostile: a layer is refused like an archive, with the entry
// named, and a whiteout never reaches through a symlink to the host.
func TestLayersHostile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		layer []byte
		want  string
	}{
		{"climbing entry", makeTar(t, file("../evil", "x")), `"../evil"`},
		{"climbing whiteout", makeTar(t, file("etc/../../.wh.passwd", "")), `"etc/../../.wh.passwd"`},
		{"absolute entry", makeTar(t, file("/etc/evil", "x")), `"/etc/evil"`},
		{"escaping symlink", makeTar(t, symlink("a/b", "../../x")), `"a/b"`},
		{"empty whiteout", makeTar(t, file("etc/.wh.", "")), `"etc/.wh."`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := applyLayers(t, 0, tc.layer)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}

	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "precious"), []byte("p"), 0o644); err != nil {
		t.Fatal(err)
	}
	// In the image, these absolute links resolve inside the root; on the
	// host they name the directory above. Neither whiteout may touch it.
	root, err := applyLayers(t, 0,
		makeTar(t, symlink("link", host), symlink("opt", host)),
		makeTar(t, file(".wh.link", ""), file("opt/.wh..wh..opq", ""), file(".wh.opt/precious", "")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if exists(root, "link") {
		t.Error("the whited-out symlink is still there")
	}
	if _, err := os.Stat(filepath.Join(host, "precious")); err != nil {
		t.Errorf("a whiteout reached the host: %v", err)
	}
}

func TestLayersSizeBound(t *testing.T) {
	big := strings.Repeat("x", 4096)
	one := makeTar(t, file("a", big))
	// Each layer alone fits; together they do not.
	_, err := applyLayers(t, 6000, one, makeTar(t, file("b", big)))
	if err == nil || !strings.Contains(err.Error(), `"b"`) || !strings.Contains(err.Error(), "tarball_size") {
		t.Errorf("two layers past the bound: %v", err)
	}
	if _, err := applyLayers(t, 6000, one); err != nil {
		t.Errorf("one layer within the bound: %v", err)
	}
}

func TestLayersApplyFile(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	plain := makeTar(t, dir("etc/"), file("etc/zipped", "z"))
	if _, err := zw.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "layer")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	l, err := OpenLayers(root, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	diffID := sha256.Sum256(plain)
	if err := l.ApplyFile(context.Background(), f, "sha256:"+hex.EncodeToString(diffID[:])); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc/zipped")); err != nil || string(b) != "z" {
		t.Errorf("/etc/zipped: %q, %v", b, err)
	}

	// A layer whose tar stream is not the config's fails; so does one
	// with more than a record's padding after its end.
	f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	wrong := "sha256:" + strings.Repeat("0", 64)
	if err := l.ApplyFile(context.Background(), f, wrong); err == nil || !strings.Contains(err.Error(), "the image's config says "+wrong) {
		t.Errorf("a wrong diff_id: %v", err)
	}
	trailing := filepath.Join(t.TempDir(), "trailing")
	if err := os.WriteFile(trailing, append(plain, make([]byte, maxLayerTrailer+512)...), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err = os.Open(trailing); err != nil {
		t.Fatal(err)
	}
	if err := l.ApplyFile(context.Background(), f, ""); err == nil || !strings.Contains(err.Error(), "after its end of archive") {
		t.Errorf("a layer with 1 MiB after its end: %v", err)
	}
}

// TestLayersHardlinkAcrossLayers: a layer's hard link may name a file an
// earlier layer created.
func TestLayersHardlinkAcrossLayers(t *testing.T) {
	root, err := applyLayers(t, 0, makeTar(t, file("a", "shared")), makeTar(t, hardlink("b", "a")))
	if err != nil {
		t.Fatal(err)
	}
	var a, b os.FileInfo
	if a, err = os.Stat(filepath.Join(root, "a")); err == nil {
		b, err = os.Stat(filepath.Join(root, "b"))
	}
	if err != nil || !os.SameFile(a, b) {
		t.Errorf("b is not a hard link of a: %v", err)
	}
}

// TestLayersWhiteoutKeepsOwnEntriesBelow: a whiteout or opaque marker
// hides the layers below only (image-spec layer.md), so what its own
// layer put below the directory it names stays, also when the layer has
// no entry for the directories on the way and the marker comes last.
func TestLayersWhiteoutKeepsOwnEntriesBelow(t *testing.T) {
	base := makeTar(t,
		dir("opt/"), dir("opt/app/"), file("opt/app/old", "o"),
		dir("usr/"), dir("usr/lib/"), file("usr/lib/lower", "l"), dir("usr/lib/x/"), file("usr/lib/x/lower", "l"),
	)
	top := makeTar(t,
		file("opt/app/bin/tool", "t"), file("opt/.wh.app", ""),
		file("usr/lib/x/mine", "m"), file("usr/lib/.wh..wh..opq", ""),
	)
	root, err := applyLayers(t, 0, base, top)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"opt/app/bin/tool": true, "opt/app/old": false,
		"usr/lib/x/mine": true, "usr/lib/lower": false, "usr/lib/x/lower": false,
	} {
		if got := exists(root, name); got != want {
			t.Errorf("/%s exists: %v, want %v", name, got, want)
		}
	}
}

// TestLayersSkippedEntriesBounded: the bytes of an entry that is read
// but not created (aufs metadata, a whiteout, of any type that carries
// data) count toward the bound, or a small compressed layer could make
// the build read terabytes of zeros it throws away.
func TestLayersSkippedEntriesBounded(t *testing.T) {
	big := strings.Repeat("\x00", 64<<10)
	for _, name := range []string{".wh..wh.aufs", "etc/.wh.gone"} {
		e := file(name, big)
		e.hdr.Typeflag, e.hdr.Size = tar.TypeCont, int64(len(big))
		_, err := applyLayers(t, 16<<10, makeTar(t, e))
		if err == nil || !strings.Contains(err.Error(), `"`+name+`"`) || !strings.Contains(err.Error(), "tarball_size") {
			t.Errorf("%s of type %q with 64 KiB past a 16 KiB bound: %v", name, tar.TypeCont, err)
		}
	}
}

// TestLayersHeaderBytesBounded: the tar stream's own bytes are bounded
// too, not only its files': PAX records of up to 1 MiB an entry (a
// comment, which nothing keeps) cost an entry 512 bytes of the bound,
// so a small compressed layer could make the build read terabytes.
func TestLayersHeaderBytesBounded(t *testing.T) {
	var entries []entry
	comment := strings.Repeat("c", 512<<10)
	for i := range 20 {
		e := file(fmt.Sprintf("f%d", i), "")
		e.hdr.PAXRecords = map[string]string{"comment": comment}
		entries = append(entries, e)
	}
	_, err := applyLayers(t, 64<<10, makeTar(t, entries...))
	if err == nil || !strings.Contains(err.Error(), "tarball_size") {
		t.Errorf("10 MiB of PAX records past a 64 KiB bound: %v", err)
	}
	if _, err := applyLayers(t, 64<<10, makeTar(t, entries[:1]...)); err != nil {
		t.Errorf("one entry with a 512 KiB comment: %v", err)
	}
}

// TestLayersWhiteoutThenReadd: a whiteout before an entry of the same
// layer for the same name hides the layers below and keeps the entry:
// the directory the layer re-adds holds only what the layer puts there.
func TestLayersWhiteoutThenReadd(t *testing.T) {
	root, err := applyLayers(t, 0,
		makeTar(t, dir("etc/"), dir("etc/conf.d/"), file("etc/conf.d/old", "o"), file("etc/motd", "lower")),
		makeTar(t, file("etc/.wh.conf.d", ""), dir("etc/conf.d/"), file("etc/conf.d/new", "n"),
			file("etc/.wh.motd", ""), file("etc/motd", "upper")),
	)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"etc/conf.d/old": false, "etc/conf.d/new": true} {
		if got := exists(root, name); got != want {
			t.Errorf("/%s exists: %v, want %v", name, got, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc/motd")); err != nil || string(b) != "upper" {
		t.Errorf("/etc/motd: %q, %v", b, err)
	}
}
