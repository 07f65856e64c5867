package isolation

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/internal/testenv"
)

// tmpfsSize is the size of the file system at p.
func tmpfsSize(t *testing.T, p string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.TMPFS_MAGIC {
		t.Fatalf("%s is not a tmpfs", p)
	}
	return int64(st.Blocks) * st.Bsize
}

// TestChrootTmpfsSizes: the chroot's /tmp, /run and /dev/shm have the
// recipe's sizes, or the defaults; not half the host's memory each.
func TestChrootTmpfsSizes(t *testing.T) {
	testenv.Root(t)
	d := DefaultTmpfsSizes()
	for _, tt := range []struct {
		name  string
		sizes TmpfsSizes
		want  map[string]int64
	}{
		{"defaults", TmpfsSizes{}, map[string]int64{"tmp": d.Tmp, "run": d.Run, "dev/shm": d.Shm}},
		{"recipe", TmpfsSizes{Tmp: 8 << 20, Run: 2 << 20, Shm: 3 << 20}, map[string]int64{"tmp": 8 << 20, "run": 2 << 20, "dev/shm": 3 << 20}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			chroot, err := SetupChroot(dir, tt.sizes)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := chroot.Teardown(); err != nil {
					t.Error(err)
				}
			})
			for rel, want := range tt.want {
				if got := tmpfsSize(t, filepath.Join(dir, rel)); got != want {
					t.Errorf("/%s is %d bytes, want %d", rel, got, want)
				}
			}
		})
	}
}

// TestToolViewTmpfsSizes: a bootstrap tool's view has a /tmp and
// /dev/shm of the recipe's sizes, and so does the image's /dev/shm
// there; the view's root is as small as /run.
func TestToolViewTmpfsSizes(t *testing.T) {
	testenv.Root(t)
	work, image := t.TempDir(), t.TempDir()
	view := filepath.Join(work, "view")
	if err := os.Mkdir(view, 0o755); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	runner := &Runner{Out: &out}
	sizes := TmpfsSizes{Tmp: 5 << 20, Run: 2 << 20, Shm: 3 << 20}
	c := Command{Label: "df", Argv: []string{"/bin/sh", "-c", `for p in / /tmp /dev/shm /target/dev/shm; do echo "$p $(stat -f -c '%b %S' $p)"; done`},
		Tool: &ToolView{Dir: view, Image: image, ReadOnly: ToolHostPaths, Tmpfs: sizes}}
	if err := runner.Run(context.Background(), c); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for p, want := range map[string]int64{"/": sizes.Run, "/tmp": sizes.Tmp, "/dev/shm": sizes.Shm, "/target/dev/shm": sizes.Shm} {
		var blocks, bsize int64
		found := false
		for _, line := range strings.Split(out.String(), "\n") {
			if _, err := fmt.Sscanf(line, "[df] "+p+" %d %d", &blocks, &bsize); err == nil {
				found = true
			}
		}
		if !found || blocks*bsize != want {
			t.Errorf("%s in the tool view: %d bytes (found: %v), want %d\n%s", p, blocks*bsize, found, want, out.String())
		}
	}
}

// TestToolViewHostPathBelowTmp: a host path the view binds that lies
// below /tmp (a pinned keyring in a work directory there) is visible to
// the tool, not hidden under the view's own /tmp.
func TestToolViewHostPathBelowTmp(t *testing.T) {
	testenv.Root(t)
	work, image := t.TempDir(), t.TempDir()
	if !strings.HasPrefix(work, "/tmp/") {
		t.Skipf("the test directory %s is not below /tmp", work)
	}
	view := filepath.Join(work, "view")
	if err := os.Mkdir(view, 0o755); err != nil {
		t.Fatal(err)
	}
	keyring := filepath.Join(work, "keyrings", "k.gpg")
	if err := os.MkdirAll(filepath.Dir(keyring), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyring, []byte("pinned keys\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := Command{Label: "cat", Argv: []string{"/bin/sh", "-c", "cat " + keyring + " && touch /tmp/scratch && echo tmp writable"},
		Tool: &ToolView{Dir: view, Image: image, ReadOnly: append(slices.Clip(ToolHostPaths), keyring)}}
	if err := (&Runner{Out: &out}).Run(context.Background(), c); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "[cat] pinned keys") || !strings.Contains(out.String(), "[cat] tmp writable") {
		t.Errorf("the tool saw:\n%s", out.String())
	}
}
