package pack

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/testenv"
)

// TestWriteSquashfs packs a small tree with each algorithm, with one
// mksquashfs thread and with two: the bytes must not depend on the thread
// count (the fingerprint of a split image covers them), and the
// superblock must say what WriteSquashfs asked for.
func TestWriteSquashfs(t *testing.T) {
	testenv.Command(t, "mksquashfs", "squashfs-tools")
	unsquashfs := testenv.Command(t, "unsquashfs", "squashfs-tools")
	root := t.TempDir()
	putFile(t, filepath.Join(root, "etc", "motd"), []byte("hello\n"))
	// Over three 1 MiB blocks, compressible, plus a tail that goes
	// into a fragment.
	big := bytes.Repeat([]byte("builder squashfs block "), 3<<20/23+100)
	putFile(t, filepath.Join(root, "usr", "lib", "big"), big)
	if err := os.Symlink("usr/lib", filepath.Join(root, "lib")); err != nil {
		t.Fatal(err)
	}
	epoch := time.Unix(1700000000, 0)
	for _, tt := range []struct{ compression, want string }{
		{"xz-6", "Compression xz"},
		{"zstd-3", "compression-level 3"},
		{"gzip-6", "Compression gzip"},
		{"none", "Data is uncompressed"},
	} {
		t.Run(tt.compression, func(t *testing.T) {
			c := mustCompression(t, tt.compression)
			var sums []string
			for _, threads := range []int{1, 2} {
				path := filepath.Join(t.TempDir(), "rootfs.squashfs")
				info, err := WriteSquashfs(context.Background(), root, path, SquashfsOptions{Compression: c, Epoch: &epoch, Processors: threads})
				if err != nil {
					t.Fatal(err)
				}
				if st, err := os.Stat(path); err != nil || st.Size() != info.Size || info.Name != "rootfs.squashfs" {
					t.Fatalf("info %+v, file %v, %v", info, st, err)
				}
				sums = append(sums, info.SHA256)
				cmd := exec.Command(unsquashfs, "-s", path)
				cmd.Env = append(os.Environ(), "TZ=UTC") // the epoch's date as written below
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("unsquashfs -s: %v\n%s", err, out)
				}
				for _, want := range []string{tt.want, "Block size 1048576", "Filesystem is not exportable via NFS", "time Tue Nov 14 22:13:20 2023"} {
					if !strings.Contains(string(out), want) {
						t.Errorf("unsquashfs -s lacks %q:\n%s", want, out)
					}
				}
			}
			if sums[0] != sums[1] {
				t.Errorf("sha256 with 1 thread %s, with 2 %s: want the same bytes", sums[0], sums[1])
			}
		})
	}
}

func putFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSquashfsMemory: mksquashfs's queues are bounded, 256 MiB up to 32
// threads and 8 MiB a thread beyond, on a machine with the memory for it.
func TestSquashfsMemory(t *testing.T) {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil || uint64(si.Totalram)*uint64(si.Unit) < 4<<30 {
		t.Skip("needs 4 GiB of memory to see the bound applied")
	}
	for threads, want := range map[int]int{1: 256, 2: 256, 32: 256, 64: 512} {
		if got := squashfsMemory(threads); got != want {
			t.Errorf("squashfsMemory(%d) = %d MiB, want %d", threads, got, want)
		}
	}
}
