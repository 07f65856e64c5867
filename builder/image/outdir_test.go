package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/builder-images/builder/internal/dirlock"
)

// writeImage writes a unified image whose one file holds body into dir.
func writeImage(t *testing.T, dir, body string) ImageJSON {
	t.Helper()
	name := "img.tar.gz"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	f := FileInfo{Name: name, Role: RoleUnified, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body))}
	j := ImageJSON{Fingerprint: f.SHA256, Type: TypeUnified, Architecture: "x86_64", Files: []FileInfo{f}}
	if err := WriteSHA256SUMS(dir, j.Files); err != nil {
		t.Fatal(err)
	}
	if err := WriteImageJSON(dir, j); err != nil {
		t.Fatal(err)
	}
	return j
}

// stage writes an image with body as the new image of out and commits
// it, collecting warnings.
func stage(t *testing.T, out, body string) (ImageJSON, []error) {
	t.Helper()
	s, err := StageOutput(out, []string{"img.tar.gz"}, func(err error) { t.Errorf("staging: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	j := writeImage(t, s.Dir, body)
	var warnings []error
	if err := s.Commit(func(err error) { warnings = append(warnings, err) }); err != nil {
		t.Fatal(err)
	}
	return j, warnings
}

// assertImage checks that dir holds exactly the image j.
func assertImage(t *testing.T, dir string, j ImageJSON) {
	t.Helper()
	got, err := ReadImageJSON(dir)
	if err != nil || got.Fingerprint != j.Fingerprint {
		t.Fatalf("%s: image.json %v, fingerprint %s, want %s", dir, err, got.Fingerprint, j.Fingerprint)
	}
	if names := list(t, dir); !slices.Equal(names, []string{"SHA256SUMS", "image.json", "img.tar.gz"}) {
		t.Errorf("%s holds %v", dir, names)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "img.tar.gz")); int64(len(b)) != j.Files[0].Size {
		t.Errorf("%s: the image file is not the new one", dir)
	}
}

func list(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestStageCommit: a new output is created, an existing one replaced
// whole (nothing of the previous image left), and nothing stays beside
// it.
func TestStageCommit(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "sub", "out")
	first, warnings := stage(t, out, "first image")
	assertImage(t, out, first)
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o755 || len(warnings) > 0 {
		t.Errorf("a new output: mode %v, warnings %v", st.Mode(), warnings)
	}
	// A leftover of an older builder's interrupted write goes too.
	if err := os.WriteFile(filepath.Join(out, ".img.tar.gz.tmp-123"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	second, warnings := stage(t, out, "the second image, longer")
	assertImage(t, out, second)
	if len(warnings) > 0 {
		t.Errorf("warnings: %v", warnings)
	}
	if names := list(t, filepath.Dir(out)); !slices.Equal(names, []string{"out"}) {
		t.Errorf("beside the output: %v", names)
	}
}

// TestStageDiscard: a discarded image leaves the output as it was and
// no staging directory.
func TestStageDiscard(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	first, _ := stage(t, out, "first image")
	s, err := StageOutput(out, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeImage(t, s.Dir, "never committed")
	if err := s.Discard(); err != nil {
		t.Fatal(err)
	}
	assertImage(t, out, first)
	if names := list(t, filepath.Dir(out)); !slices.Equal(names, []string{"out"}) {
		t.Errorf("beside the output: %v", names)
	}
	if err := s.Commit(nil); err == nil {
		t.Error("a discarded image was committed")
	}
}

// TestStageRefusesForeignFiles: an output holding what builder did not
// write is refused, not replaced.
func TestStageRefusesForeignFiles(t *testing.T) {
	for _, planted := range []string{"notes.txt", "subdir/", ".notes.tmp-1", ".img.tar.gz.tmp-x"} {
		out := filepath.Join(t.TempDir(), "out")
		stage(t, out, "an image")
		path := filepath.Join(out, strings.TrimSuffix(planted, "/"))
		var err error
		if strings.HasSuffix(planted, "/") {
			err = os.Mkdir(path, 0o755)
		} else {
			err = os.WriteFile(path, nil, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		_, err = StageOutput(out, []string{"img.tar.gz"}, nil)
		var foreign *ForeignOutputError
		if !errors.As(err, &foreign) || !slices.Equal(foreign.Names, []string{filepath.Base(path)}) {
			t.Errorf("%s: %v", planted, err)
		}
		if names := list(t, filepath.Dir(out)); !slices.Equal(names, []string{"out"}) {
			t.Errorf("%s: beside the output: %v", planted, names)
		}
	}
}

func TestIsLeftover(t *testing.T) {
	known := map[string]bool{"img.tar.gz": true}
	for name, want := range map[string]bool{
		".img.tar.gz.tmp-123":       true,
		".lxd.tar.xz.tmp-9":         true,
		".rootfs.squashfs.tmp":      true,
		".image.json.tmp-1":         false, // not in known: no image.json given
		"img.tar.gz.tmp-1":          false,
		".img.tar.gz.tmp-":          false,
		".img.tar.gz.tmp-1a":        false,
		".notes.tmp":                false,
		".tmp-1":                    false,
		".debian-12.tar.zst.tmp-77": true,
	} {
		if got := isLeftover(name, known); got != want {
			t.Errorf("isLeftover(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestStageSweepsLeftovers: a killed build's staging directory is
// removed by the next build; a live one's is not.
func TestStageSweepsLeftovers(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	killed := filepath.Join(parent, ".out"+stagingMark+"1")
	if err := os.Mkdir(killed, 0o700); err != nil {
		t.Fatal(err)
	}
	writeImage(t, killed, "half written")
	live, err := dirlock.MkdirTemp(parent, ".out"+stagingMark)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Unlock()
	other := filepath.Join(parent, ".other"+stagingMark+"1")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := CheckOutput(out, nil, func(err error) { t.Error(err) }); err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Base(live.Path), filepath.Base(other)}
	slices.Sort(want)
	if names := list(t, parent); !slices.Equal(names, want) {
		t.Errorf("after the sweep %v, want %v", names, want)
	}
}

// TestCommitKeepsLateFiles: a file a user put in the output while the
// image was being built is not deleted with the previous image: it is
// moved out of the way, and said so.
func TestCommitKeepsLateFiles(t *testing.T) {
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	stage(t, out, "first image")
	s, err := StageOutput(out, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	j := writeImage(t, s.Dir, "second image")
	if err := os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	var warnings []error
	if err := s.Commit(func(err error) { warnings = append(warnings, err) }); err != nil {
		t.Fatal(err)
	}
	assertImage(t, out, j)
	kept, _ := filepath.Glob(filepath.Join(parent, "out.previous-*", "notes.txt"))
	if len(kept) != 1 || len(warnings) != 1 || !strings.Contains(warnings[0].Error(), filepath.Dir(kept[0])) {
		t.Errorf("kept %v, warnings %v", kept, warnings)
	}
}

// TestCommitInPlace: an output that cannot be renamed (a mount point)
// has its files replaced one by one; the previous image's files that
// the new one lacks go, other files stay out of it (it was refused
// before).
func TestCommitInPlace(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	stage(t, out, "first image")
	if err := os.WriteFile(filepath.Join(out, ".img.tar.gz.tmp-5"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := StageOutput(out, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.out.mountRoot = true
	var before syscall.Stat_t
	if err := syscall.Stat(out, &before); err != nil {
		t.Fatal(err)
	}
	j := writeImage(t, s.Dir, "second image")
	if err := s.Commit(func(err error) { t.Error(err) }); err != nil {
		t.Fatal(err)
	}
	assertImage(t, out, j)
	var after syscall.Stat_t
	if err := syscall.Stat(out, &after); err != nil || after.Ino != before.Ino {
		t.Errorf("the output directory itself was replaced")
	}
	if names := list(t, filepath.Dir(out)); !slices.Equal(names, []string{"out"}) {
		t.Errorf("beside the output: %v", names)
	}
}

// TestCommitLooksLikeOutput: a directory the user made keeps its owner
// and mode; a symlink to it stays a symlink.
func TestCommitLooksLikeOutput(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the directory another owner")
	}
	parent := t.TempDir()
	real := filepath.Join(parent, "real")
	if err := os.Mkdir(real, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(real, os.ModeSetgid|0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(real, 1000, 1001); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(parent, "link")
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	j, _ := stage(t, link, "an image")
	assertImage(t, real, j)
	st, err := os.Stat(real)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if st.Mode()&(os.ModePerm|os.ModeSetgid) != 0o750|os.ModeSetgid || sys.Uid != 1000 || sys.Gid != 1001 {
		t.Errorf("the output is %v %d:%d, want drwxr-s--- 1000:1001", st.Mode(), sys.Uid, sys.Gid)
	}
	if lst, err := os.Lstat(link); err != nil || lst.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink was replaced: %v", err)
	}
	if _, err := StageOutput(filepath.Join(parent, "dangling"), nil, nil); err != nil {
		t.Errorf("a missing output: %v", err)
	}
	if err := os.Symlink("missing", filepath.Join(parent, "broken")); err != nil {
		t.Fatal(err)
	}
	if _, err := StageOutput(filepath.Join(parent, "broken"), nil, nil); err == nil {
		t.Error("a symlink to nothing was accepted as the output")
	}
}

// TestImageNamesLenient: the files an image.json of a newer builder
// lists (fields this one does not know) are still the image's; a name
// that is not bare is no name.
func TestImageNamesLenient(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ImageJSONName), []byte(`{"future": 1, "files": [{"name": "x.tar.gz", "more": true}, {"name": "../y"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x.tar.gz"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if others, err := foreignEntries(dir, nil); err != nil || len(others) != 0 {
		t.Errorf("foreign entries %v, %v", others, err)
	}
	if known := imageNames(dir, nil); known["../y"] {
		t.Error("a name with a slash was taken as an image file")
	}
}
