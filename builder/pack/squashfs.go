package pack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// SquashfsOptions configure WriteSquashfs.
type SquashfsOptions struct {
	Compression Compression
	// Epoch, when set, is every file's and the filesystem's time, so the
	// same tree gives the same bytes (SOURCE_DATE_EPOCH).
	Epoch *time.Time
	// Processors bounds mksquashfs's threads; 0 lets it use all.
	Processors int
	// Stdout receives mksquashfs's messages.
	Stdout io.Writer
}

// squashfsArgs maps builder's algorithms to mksquashfs's; "none" stores
// everything uncompressed.
func squashfsArgs(c Compression) []string {
	switch c.Algorithm.Name {
	case "none":
		return []string{"-noI", "-noD", "-noF", "-noX"}
	case "xz":
		// mksquashfs's xz takes no level; -Xdict-size at the block size
		// is its strongest setting and what distrobuilder-built images
		// get by default.
		return []string{"-comp", "xz"}
	}
	return []string{"-comp", c.Algorithm.Name, "-Xcompression-level", strconv.Itoa(c.Level)}
}

// WriteSquashfs makes path a squashfs of root with mksquashfs, as LXD's
// split images carry their rootfs: 1 MiB blocks, xattrs kept, no NFS
// export table. The file appears under its final name only when complete.
//
// The options are distrobuilder's (-noappend -comp xz -b 1M, so images
// match in size) plus what costs nothing: -no-exports, -no-progress,
// -no-recovery and a bounded -mem (see squashfsMemory). Measured on a
// sample of issue 19's reference rootfs (docs/benchmarks.md, "Squashfs"),
// every other choice trades size for time or time for size: 256K or 128K
// blocks, or -no-fragments, take 20-35 % less CPU but are 9-18 % larger;
// -Xbcj x86 is 2 % smaller and takes twice the CPU; -Xdict-size 50 %,
// -no-duplicates and -always-use-fragments change neither by more than
// the noise.
func WriteSquashfs(ctx context.Context, root, path string, opts SquashfsOptions) (_ FileInfo, err error) {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	os.Remove(tmp) // a leftover of a killed run; mksquashfs would append
	args := []string{root, tmp, "-noappend", "-b", "1M", "-no-exports", "-no-progress", "-no-recovery", "-xattrs"}
	args = append(args, squashfsArgs(opts.Compression)...)
	threads := runtime.NumCPU()
	if opts.Processors > 0 {
		threads = opts.Processors
		args = append(args, "-processors", strconv.Itoa(threads))
	}
	if mem := squashfsMemory(threads); mem > 0 {
		args = append(args, "-mem", strconv.Itoa(mem)+"M")
	}
	if opts.Epoch != nil {
		t := strconv.FormatInt(opts.Epoch.Unix(), 10)
		args = append(args, "-all-time", t, "-mkfs-time", t)
	}
	cmd := exec.CommandContext(ctx, "mksquashfs", args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	// When builder dies (kill -9 included) mksquashfs dies too, rather
	// than go on writing into a staging directory the next build
	// removes. The signal comes when the thread that started it exits,
	// so this goroutine keeps its thread until mksquashfs is gone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd.Stdout, cmd.Stderr = opts.Stdout, opts.Stdout
	if cmd.Stdout == nil {
		var tail Tail
		cmd.Stdout, cmd.Stderr = &tail, &tail
		defer func() {
			if err != nil && tail.Len() > 0 {
				err = fmt.Errorf("%w\n%s", err, tail.String())
			}
		}()
	}
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return FileInfo{}, fmt.Errorf("mksquashfs is not installed (apt-get install squashfs-tools): %w", err)
		}
		return FileInfo{}, fmt.Errorf("mksquashfs %s: %w", root, err)
	}
	info, err := hashFile(tmp)
	if err != nil {
		return FileInfo{}, err
	}
	if err := syncAndRename(tmp, path); err != nil {
		return FileInfo{}, err
	}
	info.Name = filepath.Base(path)
	return info, nil
}

// squashfsMemory is mksquashfs's -mem in MiB for threads compressors.
// Left alone, mksquashfs takes a quarter of the machine's memory and
// gives a quarter of that to its read queue, so its reader runs ahead of
// the compressors until most of the rootfs is in memory (about 430 MiB
// peak on the 235 MB reference rootfs, growing with the input). 256 MiB
// (64 MiB of read queue: 64 blocks of 1 MiB) keeps two compressors fed
// as well; a larger machine gets 8 MiB more per thread. It changes no
// byte of the output. 0 leaves mksquashfs's default, on a machine whose quarter is
// already less (mksquashfs refuses -mem over 75 % of the memory).
func squashfsMemory(threads int) int {
	want := max(256, 8*threads)
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err == nil && uint64(want)<<20 > uint64(si.Totalram)*uint64(si.Unit)/4 {
		return 0
	}
	return want
}

// hashFile returns a file's size and sha256.
func hashFile(path string) (FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileInfo{}, fmt.Errorf("hashing %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return FileInfo{}, fmt.Errorf("hashing %s: %w", path, err)
	}
	return FileInfo{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// syncAndRename makes a finished temporary file durable under its final
// name.
func syncAndRename(tmp, path string) error {
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming to %s: %w", path, err)
	}
	return nil
}

// Tail keeps the last 4 KiB written: enough of a failing tool's output
// (mksquashfs, treediff's sqfs2tar) to explain it.
type Tail struct{ b []byte }

func (l *Tail) Write(p []byte) (int, error) {
	l.b = append(l.b, p...)
	if len(l.b) > 4096 {
		l.b = l.b[len(l.b)-4096:]
	}
	return len(p), nil
}

func (l *Tail) Len() int       { return len(l.b) }
func (l *Tail) String() string { return string(l.b) }
