package isolation

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/internal/testenv"
)

// TestBindHostFollowsAMovedMount: a step renames a parent of the shared
// apt directory's mount point, which moves the mount. Undoing the bind
// must still unmount it, so the steps after the package step cannot
// write into the host's directory; and the bind must not honour setuid
// files or device nodes.
func TestBindHostFollowsAMovedMount(t *testing.T) {
	testenv.Root(t)
	dir, host := t.TempDir(), t.TempDir()
	chroot, err := SetupChroot(dir, TmpfsSizes{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := chroot.Teardown(); err != nil {
			t.Error(err)
		}
		if err := UnmountBelow(dir); err != nil {
			t.Error(err)
		}
	})
	unbind, err := chroot.BindHost(host, "var/cache/apt/archives")
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Join(dir, "var/cache/apt/archives"), &st); err != nil {
		t.Fatal(err)
	}
	if want := int64(unix.ST_NOSUID | unix.ST_NODEV | unix.ST_NOEXEC); st.Flags&want != want {
		t.Errorf("the bind's flags are %#x, want nosuid, nodev and noexec", st.Flags)
	}
	// What a maintainer script can do: mv /var/cache/apt /var/cache/apt.old
	if err := os.Rename(filepath.Join(dir, "var/cache/apt"), filepath.Join(dir, "var/cache/apt.old")); err != nil {
		t.Fatal(err)
	}
	if err := unbind(); err != nil {
		t.Fatal(err)
	}
	// A later step writes where the mount went.
	if err := os.WriteFile(filepath.Join(dir, "var/cache/apt.old/archives/planted"), []byte("x"), 0o4755); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(host); len(entries) != 0 {
		t.Errorf("a step wrote %d entries into the host's directory after the unbind", len(entries))
	}
	if below, err := mountsBelowDir(filepath.Join(dir, "var")); err != nil || len(below) != 0 {
		t.Errorf("still mounted below /var: %v %v", below, err)
	}
}
