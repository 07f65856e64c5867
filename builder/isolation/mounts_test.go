package isolation

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/internal/testenv"
)

const sampleMountInfo = `22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw
23 22 0:5 / /proc rw,nosuid shared:2 - proc proc rw
40 22 0:33 / /var/tmp/build/rootfs/proc rw - proc proc rw
41 22 0:34 / /var/tmp/build/rootfs/dev rw master:3 propagate_from:1 - tmpfs tmpfs rw
42 22 0:35 / /var/tmp/build\040two/x rw - tmpfs my\040tmpfs rw
43 22 0:36 /sub /var/tmp/buildx rw - ext4 /dev/vdb rw
`

func TestParseMountInfo(t *testing.T) {
	mounts, err := ParseMountInfo(strings.NewReader(sampleMountInfo))
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 6 {
		t.Fatalf("parsed %d mounts, want 6", len(mounts))
	}
	m := mounts[4]
	if m.MountPoint != "/var/tmp/build two/x" || m.Source != "my tmpfs" || m.FSType != "tmpfs" || m.ID != 42 || m.ParentID != 22 {
		t.Errorf("escaped line parsed as %+v", m)
	}
	if mounts[3].FSType != "tmpfs" {
		t.Errorf("optional fields confused the parser: %+v", mounts[3])
	}
	if mounts[5].Root != "/sub" {
		t.Errorf("root = %q, want /sub", mounts[5].Root)
	}
	for _, bad := range []string{"1 2 3\n", "x 1 0:1 / / rw - ext4 /dev/x rw\n", "1 1 0:1 / / rw shared:1 ext4\n"} {
		if _, err := ParseMountInfo(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseMountInfo(%q) succeeded, want an error", bad)
		}
	}
}

func TestMountsBelow(t *testing.T) {
	mounts, err := ParseMountInfo(strings.NewReader(sampleMountInfo))
	if err != nil {
		t.Fatal(err)
	}
	points := func(ms []Mount) string {
		var out []string
		for _, m := range ms {
			out = append(out, m.MountPoint)
		}
		return strings.Join(out, ",")
	}
	tests := map[string]string{
		"/var/tmp/build":              "/var/tmp/build/rootfs/proc,/var/tmp/build/rootfs/dev",
		"/var/tmp/build/":             "/var/tmp/build/rootfs/proc,/var/tmp/build/rootfs/dev",
		"/var/tmp/build/rootfs/dev":   "/var/tmp/build/rootfs/dev",
		"/var/tmp/build two":          "/var/tmp/build two/x",
		"/var/tmp/buildx":             "/var/tmp/buildx", // the directory itself is a mount point
		"/var/tmp/build/rootfs/other": "",
		"/srv":                        "",
	}
	for dir, want := range tests {
		if got := points(MountsBelow(mounts, dir)); got != want {
			t.Errorf("MountsBelow(%q) = %q, want %q", dir, got, want)
		}
	}
}

func TestRemoveTreeWithoutMounts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "build")
	if err := os.MkdirAll(filepath.Join(dir, "rootfs", "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A symlink to a directory outside must be removed, not followed.
	outside := t.TempDir()
	sentinel := filepath.Join(outside, "sentinel")
	if err := os.WriteFile(sentinel, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "rootfs", "escape")); err != nil {
		t.Fatal(err)
	}
	if err := RemoveTree(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists: %v", dir, err)
	}
	if b, err := os.ReadFile(sentinel); err != nil || string(b) != "keep" {
		t.Errorf("sentinel outside the tree changed: %q, %v", b, err)
	}
	if err := RemoveTree(dir); err != nil {
		t.Errorf("removing a missing tree: %v", err)
	}
	if err := RemoveTree("/"); err == nil {
		t.Error("RemoveTree(/) succeeded")
	}
}

// TestRemoveTreeRefusesMounts mounts a real tmpfs below a build directory
// and checks that removal is refused and the mounted files survive.
func TestRemoveTreeRefusesMounts(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	mnt := filepath.Join(dir, "rootfs", "run")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mounting tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	inside := filepath.Join(mnt, "file")
	if err := os.WriteFile(inside, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	err := RemoveTree(dir)
	var mounted *MountedError
	if !errors.As(err, &mounted) {
		t.Fatalf("RemoveTree with a mount below = %v, want a *MountedError", err)
	}
	if len(mounted.Mounts) != 1 || mounted.Mounts[0].MountPoint != mnt || !strings.Contains(err.Error(), mnt) {
		t.Errorf("error %q does not name exactly the mount %s", err, mnt)
	}
	if _, err := os.Stat(inside); err != nil {
		t.Errorf("file on the mount was touched: %v", err)
	}

	if err := unix.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	if err := RemoveTree(dir); err != nil {
		t.Errorf("RemoveTree after unmounting: %v", err)
	}
}

// requireRoot skips tests that need root, or fails them in CI.
func requireRoot(t *testing.T) { testenv.Root(t) }
