package output

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/builder-images/builder/builder/image"
)

// A kept rootfs file comes from the untrusted cache: it is written under
// the name this build gives it, never the recorded one, and kept only
// with the recorded sha256; every problem is ErrReusedChanged, so the
// build drops the entry and packs instead.
func TestCopyReused(t *testing.T) {
	tmp := t.TempDir()
	out := filepath.Join(tmp, "a", "b", "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(tmp, "victim")
	if err := os.WriteFile(victim, []byte("sentinel"), 0o644); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(tmp, "kept")
	if err := os.WriteFile(kept, []byte("squash"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("squash"))
	good := image.FileInfo{Name: "rootfs.squashfs", Role: image.RoleRootfs, Size: 6, SHA256: hex.EncodeToString(sum[:])}
	open := func() (*os.File, error) { return os.Open(kept) }
	for _, tc := range []struct {
		name string
		r    ReusedRootfs
	}{
		{"name that climbs out", ReusedRootfs{Path: kept, Open: open, Info: image.FileInfo{Name: "../../../victim", Size: 6, SHA256: good.SHA256}}},
		{"another name", ReusedRootfs{Path: kept, Open: open, Info: image.FileInfo{Name: "rootfs.tar.xz", Size: 6, SHA256: good.SHA256}}},
		{"other bytes", ReusedRootfs{Path: kept, Open: open, Info: image.FileInfo{Name: "rootfs.squashfs", Size: 6, SHA256: hex.EncodeToString(make([]byte, 32))}}},
		{"cannot open", ReusedRootfs{Path: kept, Open: func() (*os.File, error) { return nil, errors.New("a symlink") }, Info: good}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := copyReused(context.Background(), &tc.r, out, "rootfs.squashfs")
			if !errors.Is(err, ErrReusedChanged) {
				t.Errorf("got %v, want ErrReusedChanged", err)
			}
			if left, _ := os.ReadDir(out); len(left) != 0 {
				t.Errorf("left %v in the output", left)
			}
			if data, err := os.ReadFile(victim); err != nil || string(data) != "sentinel" {
				t.Errorf("the victim file is %q now: %v", data, err)
			}
		})
	}
	info, err := copyReused(context.Background(), &ReusedRootfs{Path: kept, Open: open, Info: good}, out, "rootfs.squashfs")
	if err != nil || info.SHA256 != good.SHA256 {
		t.Fatalf("copying a good file: %+v %v", info, err)
	}
	if data, _ := os.ReadFile(filepath.Join(out, "rootfs.squashfs")); string(data) != "squash" {
		t.Errorf("copied %q", data)
	}
}
