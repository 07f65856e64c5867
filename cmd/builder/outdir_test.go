package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/isolation"
)

// TestConcurrentBuildsSameOutput: two builds writing the same output
// directory each replace it whole; the last to finish is what stays,
// with nothing of the other's beside it.
func TestConcurrentBuildsSameOutput(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	if testing.Short() {
		t.Skip("runs two builds")
	}
	fs := mountTmpfs(t)
	parent := filepath.Join(fs, "builds")
	out := filepath.Join(parent, "out")
	args := func(epoch string) []string {
		return []string{"build", "recipes/busybox.hcl", "-o", out, "--type", "split", "--rootfs-format", "tar", "--source-date-epoch", epoch}
	}
	first := exec.Command(builderBinary(t), args("1700000000")...)
	first.Dir = filepath.Join("..", "..")
	var firstLog bytes.Buffer
	first.Stdout, first.Stderr = &firstLog, &firstLog
	// The first build waits in its open of image.json's temporary file,
	// its image written but not in place, while the second one runs.
	held, release := make(chan struct{}), make(chan struct{})
	var holding bool
	newOpenGate(t, fs, func(e gateEvent) <-chan struct{} {
		if !holding && first.Process != nil && e.Pid == first.Process.Pid && strings.Contains(e.Path, "/.image.json.tmp-") {
			holding = true
			close(held)
			return release
		}
		return nil
	})
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(60 * time.Second):
		t.Fatalf("the first build never wrote image.json:\n%s", firstLog.String())
	}
	runBuilder(t, nil, args("1700000100")...)
	second := checkOutput(t, out)
	close(release)
	if err := first.Wait(); err != nil {
		t.Fatalf("the first build: %v\n%s", err, firstLog.String())
	}
	last := checkOutput(t, out)
	if last.Fingerprint == second.Fingerprint {
		t.Errorf("the first build finished last, but the second one's image is in %s", out)
	}
	if left := entries(t, parent); !slices.Equal(left, []string{"out"}) {
		t.Errorf("%s holds %v, want only out", parent, left)
	}
}

// TestBuildOutputDirectory: what a user gives as --output. A directory
// they made keeps its owner and mode; a symlink stays one, the directory
// it points to taking the image; one holding other files is refused
// before anything is built, and they stay; a mount point takes the
// image file by file and stays mounted.
func TestBuildOutputDirectory(t *testing.T) {
	requireRoot(t)
	requireBusybox(t)
	tmp := t.TempDir()
	build := func(out string) (string, string, int) {
		return builderExec(t, nil, "build", "recipes/busybox.hcl", "-o", out)
	}

	mine := filepath.Join(tmp, "mine")
	if err := os.Mkdir(mine, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(mine, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, stderr, status := build(mine); status != 0 {
			t.Fatalf("exit %d\n%s", status, stderr)
		}
		checkOutput(t, mine)
		st, err := os.Stat(mine)
		if err != nil || st.Mode().Perm() != 0o750 || st.Sys().(*syscall.Stat_t).Uid != 1000 || st.Sys().(*syscall.Stat_t).Gid != 1000 {
			t.Errorf("the output directory lost its mode or owner: %v %v", st.Mode(), err)
		}
	}

	real, link := filepath.Join(tmp, "real"), filepath.Join(tmp, "link")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	if _, stderr, status := build(link); status != 0 {
		t.Fatalf("exit %d\n%s", status, stderr)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the output symlink was replaced: %v", err)
	}
	checkOutput(t, real)

	foreign := filepath.Join(tmp, "foreign")
	if err := os.Mkdir(foreign, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(foreign, "notes.txt"), "mine\n")
	_, stderr, status := build(foreign)
	if status != exitUsage || !strings.Contains(stderr, foreign+" holds notes.txt, which builder did not write") {
		t.Errorf("an output holding a user's file: exit %d, want 2\n%s", status, stderr)
	}
	if strings.Contains(stderr, "==> [1/") {
		t.Errorf("the refused build ran:\n%s", stderr)
	}
	if got := entries(t, foreign); !slices.Equal(got, []string{"notes.txt"}) {
		t.Errorf("%s holds %v after the refused build", foreign, got)
	}

	mount := filepath.Join(tmp, "mount")
	if err := os.Mkdir(mount, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mount, "tmpfs", 0, "size=64m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mount, unix.MNT_DETACH) })
	for range 2 {
		if _, stderr, status := build(mount); status != 0 {
			t.Fatalf("a mount point as the output: exit %d\n%s", status, stderr)
		}
		checkOutput(t, mount)
	}
	if err := isolation.CheckNothingMounted(mount); err == nil {
		t.Errorf("%s is no longer a mount point", mount)
	}
}

// checkOutput checks that dir holds one complete image and nothing
// else: image.json valid, SHA256SUMS its files' and the SBOM's sums,
// each file with the size and sha256 image.json says and the
// fingerprint theirs.
func checkOutput(t *testing.T, dir string) image.ImageJSON {
	t.Helper()
	j, err := image.ReadImageJSON(dir)
	if err != nil {
		t.Fatalf("%s is not a complete image: %v (it holds %v)", dir, err, entries(t, dir))
	}
	want := []string{image.ImageJSONName, image.SHA256SUMSName}
	combined := sha256.New()
	for _, f := range j.Files {
		want = append(want, f.Name)
		b, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Errorf("%s: %v", f.Name, err)
			continue
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(b)) != f.Size {
			t.Errorf("%s in %s is not the file image.json describes", f.Name, dir)
		}
		_, _ = io.Copy(combined, bytes.NewReader(b))
	}
	if fp := hex.EncodeToString(combined.Sum(nil)); fp != j.Fingerprint {
		t.Errorf("%s: the files' fingerprint is %s, image.json says %s", dir, fp, j.Fingerprint)
	}
	// The SBOM is listed beside the image's files, outside the
	// fingerprint.
	listed := slices.Clone(j.Files)
	if j.SBOM == nil {
		t.Errorf("%s: image.json records no SBOM", dir)
	} else {
		want = append(want, j.SBOM.Name)
		listed = append(listed, j.SBOM.File())
		b, err := os.ReadFile(filepath.Join(dir, j.SBOM.Name))
		if sum := sha256.Sum256(b); err != nil || hex.EncodeToString(sum[:]) != j.SBOM.SHA256 {
			t.Errorf("%s in %s is not the file image.json describes (%v)", j.SBOM.Name, dir, err)
		}
	}
	sums, err := image.SHA256SUMS(listed)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, image.SHA256SUMSName)); err != nil || !bytes.Equal(b, sums) {
		t.Errorf("%s: SHA256SUMS does not list image.json's files (%v):\n%s", dir, err, b)
	}
	slices.Sort(want)
	if got := entries(t, dir); !slices.Equal(got, want) {
		t.Errorf("%s holds %v, want exactly %v", dir, got, want)
	}
	return j
}

// entries lists a directory's names, sorted.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	list, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(list))
	for i, e := range list {
		names[i] = e.Name()
	}
	return names
}
