package vmdisk

// The VM disk benchmark: Build against distrobuilder's method on the
// same tree, in the same run. Run it with
//
//	go test -run '^$' -bench VMDisk -benchtime=1x -timeout 60m ./builder/vmdisk
//	BUILDER_BENCH_ROOTFS=/path/to/rootfs go test …   # a real rootfs with a kernel, shim and grub
//
// Without BUILDER_BENCH_ROOTFS the tree is ~160 MiB of generated text,
// binary-like and random files with fake boot files. distrobuilder's
// method: a raw file, the same GPT, loop devices on the partitions,
// mkfs.ext4 and mkfs.vfat on them, mount, rsync -aHAX the tree in, copy
// the boot files (where distrobuilder runs grub-install in the chroot),
// unmount, then the same qemu-img convert -c. The metrics, per
// iteration:
//
//	wall/distrobuilder  our wall time ÷ theirs
//	size/distrobuilder  our qcow2's size ÷ theirs
//	s-STAGE             our stages' seconds (mkfs, times, esp, qcow2)
//	theirs-s, theirs-qcow2-s  their wall time, and their qemu-img's share
//	RSS-MiB, theirs-RSS-MiB   the largest peak RSS of a tool each side ran

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/builder-images/builder/internal/benchutil"
	"github.com/builder-images/builder/internal/testenv"
)

func BenchmarkVMDisk(b *testing.B) {
	if testing.Short() {
		b.Skip("builds two disks from a ~160 MiB tree")
	}
	needTools(b)
	for _, tool := range []string{"losetup", "mount", "umount"} {
		testenv.Command(b, tool, "mount")
	}
	testenv.Command(b, "rsync", "rsync")
	tree := os.Getenv("BUILDER_BENCH_ROOTFS")
	if tree == "" {
		tree = benchTree(b)
	}
	size := int64(4 << 30)
	var m benchutil.Metrics
	out := b.TempDir()
	b.ResetTimer()
	for i := range b.N {
		var log bytes.Buffer
		opts := testOptions(tree, b.TempDir(), filepath.Join(out, "ours.qcow2"))
		opts.Size, opts.Log, opts.Seed = size, &log, "bench"+strconv.Itoa(i)
		peak := watchChildren()
		start := time.Now()
		if _, err := Build(context.Background(), opts); err != nil {
			b.Fatal(err)
		}
		ours := time.Since(start)
		m.Add("RSS-MiB", peak())
		b.StopTimer()
		for name, s := range stageSeconds(log.String()) {
			m.Add("s-"+name, s)
		}
		theirsOut := filepath.Join(out, "theirs.qcow2")
		peak = watchChildren()
		start = time.Now()
		convert, err := distrobuilderMethod(tree, b.TempDir(), theirsOut, size)
		if err != nil {
			b.Fatal(err)
		}
		theirs := time.Since(start)
		m.Add("theirs-RSS-MiB", peak())
		m.Add("wall/distrobuilder", ours.Seconds()/theirs.Seconds())
		m.Add("size/distrobuilder", float64(fileSize(b, opts.Output))/float64(fileSize(b, theirsOut)))
		m.Add("theirs-s", theirs.Seconds())
		m.Add("theirs-qcow2-s", convert.Seconds())
		b.StartTimer()
	}
	b.StopTimer()
	m.Report(b)
}

// stageSeconds reads Build's log lines, "vmdisk: NAME (TOOL): 1.23 s".
func stageSeconds(log string) map[string]float64 {
	short := map[string]string{"partition": "gpt", "root": "mkfs", "inode": "times", "ESP": "esp", "qcow2": "qcow2"}
	s := map[string]float64{}
	for _, line := range strings.Split(log, "\n") {
		rest, ok := strings.CutPrefix(line, "vmdisk: ")
		if !ok {
			continue
		}
		i := strings.LastIndex(rest, ": ")
		v, err := strconv.ParseFloat(strings.TrimSuffix(rest[i+2:], " s"), 64)
		if err == nil {
			s[short[strings.Fields(rest)[0]]] = v
		}
	}
	return s
}

func fileSize(b *testing.B, p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}

// distrobuilderMethod makes the disk as distrobuilder does, with loop
// devices and mounts, undone on every return; it returns how long
// qemu-img took.
func distrobuilderMethod(tree, work, out string, size int64) (convert time.Duration, err error) {
	g, err := layoutFor(size)
	if err != nil {
		return 0, err
	}
	id, _ := deriveIDs("distrobuilder")
	a, _ := lookupArch("amd64")
	raw := filepath.Join(work, "disk.raw")
	if err := os.WriteFile(raw, nil, 0o600); err != nil {
		return 0, err
	}
	if err := os.Truncate(raw, size); err != nil {
		return 0, err
	}
	sh := func(name string, args ...string) (string, error) {
		c := exec.Command(name, args...)
		// mtools refuses a partition's loop device without it.
		c.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		o, err := c.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("%s %v: %w: %s", name, args, err, o)
		}
		return strings.TrimSpace(string(o)), nil
	}
	cmd := exec.Command("sfdisk", "--quiet", raw)
	cmd.Stdin = strings.NewReader(sfdiskScript(g, id, a))
	if o, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("sfdisk: %w: %s", err, o)
	}
	loop := func(off, length int64) (string, error) {
		return sh("losetup", "--find", "--show", "--offset", strconv.FormatInt(off, 10), "--sizelimit", strconv.FormatInt(length, 10), raw)
	}
	rootDev, err := loop(g.rootStart, g.rootLen)
	if err != nil {
		return 0, err
	}
	defer func() { _, _ = sh("losetup", "-d", rootDev) }()
	espDev, err := loop(g.espStart, g.espLen)
	if err != nil {
		return 0, err
	}
	defer func() { _, _ = sh("losetup", "-d", espDev) }()
	if _, err := sh("mkfs.ext4", "-q", "-F", "-L", "rootfs", "-U", id.rootFS, rootDev); err != nil {
		return 0, err
	}
	if _, err := sh("mkfs.vfat", "-F", "32", "-n", "UEFI", espDev); err != nil {
		return 0, err
	}
	mnt := filepath.Join(work, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return 0, err
	}
	if _, err := sh("mount", rootDev, mnt); err != nil {
		return 0, err
	}
	mounted := []string{mnt}
	defer func() {
		for i := len(mounted) - 1; i >= 0; i-- {
			if _, uerr := sh("umount", mounted[i]); uerr != nil && err == nil {
				err = uerr
			}
		}
	}()
	if _, err := sh("rsync", "-aHAX", "--numeric-ids", tree+"/", mnt+"/"); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Join(mnt, "boot/efi"), 0o755); err != nil {
		return 0, err
	}
	// grub-install's part: the EFI binaries and a grub.cfg on the ESP,
	// mounted at /boot/efi by distrobuilder; with mtools here, as the
	// kernels these run on may lack vfat (a few milliseconds either way).
	espImg := espDev
	if _, err := sh("mmd", "-i", espImg, "::/EFI", "::/EFI/BOOT"); err != nil {
		return 0, err
	}
	cfg := filepath.Join(work, "grub.cfg")
	if err := os.WriteFile(cfg, []byte("search --fs-uuid --set=root "+id.rootFS+"\n"), 0o644); err != nil {
		return 0, err
	}
	for src, dst := range map[string]string{
		filepath.Join(tree, "usr/lib/shim/shimx64.efi.signed"):                   "BOOTX64.EFI",
		filepath.Join(tree, "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"): "grubx64.efi",
		cfg: "grub.cfg",
	} {
		if _, err := sh("mcopy", "-i", espImg, src, "::/EFI/BOOT/"+dst); err != nil {
			return 0, err
		}
	}
	for len(mounted) > 0 {
		if _, err := sh("umount", mounted[len(mounted)-1]); err != nil {
			return 0, err
		}
		mounted = mounted[:len(mounted)-1]
	}
	start := time.Now()
	if _, err := sh("qemu-img", "convert", "-c", "-O", "qcow2", raw, out); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// watchChildren samples this process's children's peak RSS (VmHWM)
// until the returned function is called, which returns the largest in
// MiB. Build runs its tools one at a time, so the largest is the peak.
func watchChildren() func() float64 {
	self := strconv.Itoa(os.Getpid())
	var peak float64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			entries, _ := os.ReadDir("/proc")
			for _, e := range entries {
				stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
				if err != nil {
					continue
				}
				// The parent pid is the second field after the command.
				f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
				if len(f) > 1 && f[1] == self {
					peak = max(peak, vmHWM(e.Name()))
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() float64 {
		close(stop)
		<-done
		return peak
	}
}

// vmHWM reads a process's peak RSS in MiB, 0 when it is gone.
func vmHWM(pid string) float64 {
	status, _ := os.ReadFile(filepath.Join("/proc", pid, "status"))
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kib / 1024
		}
	}
	return 0
}

// benchTree makes, once per machine, a tree of text, binary-like and
// random files with fake boot files, kept in $TMPDIR/builder-bench-vmdisk.
func benchTree(b *testing.B) string {
	dir := filepath.Join(os.TempDir(), "builder-bench-vmdisk")
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir
	}
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	write := func(p string, data []byte) {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	words := strings.Fields("the quick brown fox jumps over a lazy dog package version depends description")
	for i := range 4000 {
		n := 1 << (8 + rng.IntN(9)) // 256 B to 64 KiB
		data := make([]byte, n)
		switch i % 3 {
		case 0: // text
			var sb strings.Builder
			for sb.Len() < n {
				sb.WriteString(words[rng.IntN(len(words))] + " ")
			}
			data = []byte(sb.String()[:n])
		case 1: // binary-like: runs of a few byte values
			for j := range data {
				data[j] = byte(rng.IntN(8) * (j % 7))
			}
		default: // incompressible
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
		}
		write(fmt.Sprintf("usr/share/d%02d/f%04d", i%40, i), data)
	}
	big := make([]byte, 64<<20)
	for j := range big {
		big[j] = byte(rng.Uint32() >> (j % 5 * 8 % 32))
	}
	write("usr/lib/big.bin", big)
	for p, content := range debianBoot {
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, filepath.Join(dir, p)); err != nil {
				b.Fatal(err)
			}
			continue
		}
		write(p, bytes.Repeat([]byte(content), 1<<20))
	}
	write(".complete", nil)
	return dir
}
