package vmdisk

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/internal/testenv"
)

// needTools skips or fails a test on a host without the tools Build
// runs, and the ones the tests read the disk with.
func needTools(t testing.TB) {
	t.Helper()
	testenv.Root(t) // mke2fs -d keeps owners only as root; device nodes
	for tool, pkg := range map[string]string{
		"mke2fs": "e2fsprogs", "debugfs": "e2fsprogs", "dumpe2fs": "e2fsprogs", "e2fsck": "e2fsprogs",
		"sfdisk": "fdisk", "sgdisk": "gdisk", "mkfs.vfat": "dosfstools", "fsck.vfat": "dosfstools", "mmd": "mtools", "mcopy": "mtools",
		"mdir": "mtools", "mtype": "mtools", "qemu-img": "qemu-utils",
	} {
		testenv.Command(t, tool, pkg)
	}
}

// treeEntry is one entry of a test rootfs; a nil make is a directory.
type treeEntry struct {
	path string
	make func(p string) error
}

// file makes a file; mode is the raw st_mode bits (os.FileMode spells
// setuid apart).
func file(content string, mode uint32, uid, gid int) func(string) error {
	return func(p string) error {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			return err
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return err
		}
		return unix.Chmod(p, mode) // after chown, which clears setuid
	}
}

func symlink(target string) func(string) error {
	return func(p string) error { return os.Symlink(target, p) }
}

// testTree is a small rootfs with what a copy can lose: owners, a setuid
// mode, a hard link, xattrs, a symlink out of the tree, a device node,
// plus what a disk boots with (fake kernel, initrd, shim, grub).
func testTree(root string) []treeEntry {
	e := []treeEntry{
		{"boot", nil}, {"etc", nil}, {"dev", nil}, {"home", nil}, {"home/user", nil},
		{"usr", nil}, {"usr/bin", nil}, {"usr/lib", nil}, {"usr/lib/shim", nil},
		{"usr/lib/grub", nil}, {"usr/lib/grub/x86_64-efi-signed", nil},
		{"boot/vmlinuz-6.1.0-9-amd64", file("fake kernel", 0o644, 0, 0)},
		{"boot/initrd.img-6.1.0-9-amd64", file("fake initrd", 0o644, 0, 0)},
		{"vmlinuz", symlink("boot/vmlinuz-6.1.0-9-amd64")},
		{"initrd.img", symlink("boot/initrd.img-6.1.0-9-amd64")},
		{"usr/lib/shim/shimx64.efi.signed", file("fake shim", 0o644, 0, 0)},
		{"usr/lib/shim/mmx64.efi.signed", file("fake mokmanager", 0o644, 0, 0)},
		{"usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed", file("fake grub", 0o644, 0, 0)},
		{"etc/passwd", file("root:x:0:0::/root:/bin/sh\n", 0o644, 0, 0)},
		{"usr/bin/ping", file("ping", 0o4755, 0, 0)},
		// Setting a capability clears setuid: another file gets it.
		{"usr/bin/arping", file("arping", 0o755, 0, 0)},
		{"home/user/notes", file("mine", 0o600, 1000, 1000)},
		{"usr/bin/ping.hard", func(p string) error { return os.Link(filepath.Join(root, "usr/bin/ping"), p) }},
		{"etc/escape", symlink("/etc/shadow")},
		{"dev/null", func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))) }},
	}
	// Enough names that a directory takes more than one block and gets
	// a hashed index.
	e = append(e, treeEntry{"usr/share", nil})
	for i := range 300 {
		e = append(e, treeEntry{fmt.Sprintf("usr/share/doc-%03d", i), file(strconv.Itoa(i), 0o644, 0, 0)})
	}
	return e
}

// makeTree makes the test tree in root, its entries in order or reversed
// (parents first either way), with mtimes off by shift.
func makeTree(t testing.TB, root string, reverse bool, shift time.Duration) {
	t.Helper()
	entries := testTree(root)
	var dirs, rest []treeEntry
	for _, e := range entries {
		if e.make == nil {
			dirs = append(dirs, e)
		} else {
			rest = append(rest, e)
		}
	}
	if reverse {
		slices.Reverse(rest)
		// The hard link needs its target first.
		slices.SortStableFunc(rest, func(a, b treeEntry) int {
			return boolInt(a.path == "usr/bin/ping.hard") - boolInt(b.path == "usr/bin/ping.hard")
		})
	}
	for _, e := range dirs {
		if err := os.Mkdir(filepath.Join(root, e.path), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range rest {
		if err := e.make(filepath.Join(root, e.path)); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range []struct{ path, name, value string }{
		{"usr/bin/arping", "security.capability", "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"},
		{"etc/passwd", "user.builder", "kept"},
	} {
		if err := unix.Lsetxattr(filepath.Join(root, x.path), x.name, []byte(x.value), 0); err != nil {
			t.Fatal(err)
		}
	}
	when := time.Now().Add(shift)
	for _, e := range entries {
		if err := unix.Lutimes(filepath.Join(root, e.path), []unix.Timeval{unix.NsecToTimeval(when.UnixNano()), unix.NsecToTimeval(when.UnixNano())}); err != nil {
			t.Fatal(err)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tmpfsDir is a directory on a tmpfs when /dev/shm is one: tmpfs lists a
// directory newest entry first where ext4 lists it in hash order, so the
// two trees are read in different orders.
func tmpfsDir(t *testing.T) string {
	var st unix.Statfs_t
	if unix.Statfs("/dev/shm", &st) == nil && st.Type == unix.TMPFS_MAGIC {
		d, err := os.MkdirTemp("/dev/shm", "vmdisk-test-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	t.Log("/dev/shm is not a tmpfs: both trees are on one file system")
	return t.TempDir()
}

func testOptions(rootfs, work, out string) Options {
	epoch := time.Unix(1700000000, 0)
	return Options{Rootfs: rootfs, WorkDir: work, Output: out, Size: 512 * mib, Filesystem: "ext4",
		SecureBoot: true, Architecture: "amd64", Seed: "test-image", Epoch: &epoch, Threads: 2}
}

// toRaw converts a qcow2 back to raw for the tools that read raw disks.
func toRaw(t *testing.T, qcow2 string) string {
	t.Helper()
	raw := filepath.Join(t.TempDir(), "disk.raw")
	run(t, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", qcow2, raw)
	return raw
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func TestBuildDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two disks: slow")
	}
	needTools(t)
	treeA, treeB := t.TempDir(), tmpfsDir(t)
	makeTree(t, treeA, false, 0)
	time.Sleep(1100 * time.Millisecond) // every ctime of B a second later
	makeTree(t, treeB, true, time.Hour)
	if a, b := readdir(t, treeA+"/usr/share"), readdir(t, treeB+"/usr/share"); slices.Equal(a, b) {
		t.Log("both trees list /usr/share in one order")
	}

	out := t.TempDir()
	var log bytes.Buffer
	optsA := testOptions(treeA, t.TempDir(), filepath.Join(out, "a.qcow2"))
	optsA.Log = &log
	optsA.Threads = 8 // qemu-img -m 8 here, -m 1 for B: the same bytes
	layout, err := Build(context.Background(), optsA)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stages:\n%s", log.String())
	optsB := testOptions(treeB, t.TempDir(), filepath.Join(out, "b.qcow2"))
	optsB.Threads = 1
	layoutB, err := Build(context.Background(), optsB)
	if err != nil {
		t.Fatal(err)
	}
	if layout != layoutB {
		t.Errorf("layouts differ: %+v, %+v", layout, layoutB)
	}
	a, _ := os.ReadFile(optsA.Output)
	b, _ := os.ReadFile(optsB.Output)
	if !bytes.Equal(a, b) {
		t.Errorf("two builds of one tree made in different orders at different times differ (%d and %d bytes)", len(a), len(b))
	}
	if !bytes.HasPrefix(a, []byte("QFI\xfb")) {
		t.Errorf("the output is not a qcow2: %q", a[:4])
	}
	for _, d := range []string{optsA.WorkDir, optsB.WorkDir} {
		if left, _ := os.ReadDir(d); len(left) != 0 {
			t.Errorf("Build left %v in its work directory", left)
		}
	}
	if left, _ := os.ReadDir(out); len(left) != 2 {
		t.Errorf("the output directory holds %v, want only the two disks", left)
	}

	raw := toRaw(t, optsA.Output)
	checkGPT(t, raw, layout)
	checkRoot(t, raw, layout)
	checkESP(t, raw, layout)
}

func readdir(t *testing.T, d string) []string {
	f, err := os.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func checkGPT(t *testing.T, raw string, l Layout) {
	if v := run(t, "sgdisk", "--verify", raw); !strings.Contains(v, "No problems found") {
		t.Errorf("sgdisk --verify:\n%s", v)
	}
	if p := run(t, "sgdisk", "--print", raw); !strings.Contains(p, "Disk identifier (GUID): "+strings.ToUpper(l.DiskGUID)) {
		t.Errorf("disk GUID %s not in:\n%s", l.DiskGUID, p)
	}
	for _, part := range []struct {
		n, typ, guid, name, first string
	}{
		{"1", espType + " (EFI system partition)", l.ESPPartUUID, "'UEFI'", "2048 (at 1024.0 KiB)"},
		{"2", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709 (Linux x86-64 root (/))", l.RootPartUUID, "'rootfs'", "206848 (at 101.0 MiB)"},
	} {
		info := run(t, "sgdisk", "--info="+part.n, raw)
		for _, want := range []string{
			"Partition GUID code: " + part.typ, "Partition unique GUID: " + strings.ToUpper(part.guid),
			"Partition name: " + part.name, "First sector: " + part.first,
		} {
			if !strings.Contains(info, want) {
				t.Errorf("partition %s lacks %q:\n%s", part.n, want, info)
			}
		}
	}
}

func checkRoot(t *testing.T, raw string, l Layout) {
	dev := raw + "?offset=" + strconv.Itoa(101*mib)
	run(t, "e2fsck", "-fn", dev)
	head := run(t, "dumpe2fs", "-h", dev)
	for _, want := range []string{"Filesystem volume name:   rootfs", "Filesystem UUID:          " + l.RootUUID} {
		if !strings.Contains(head, want) {
			t.Errorf("dumpe2fs -h lacks %q", want)
		}
	}
	stat := func(p string) string { return run(t, "debugfs", "-R", "stat "+p, dev) }
	for p, wants := range map[string][]string{
		"/usr/bin/ping":    {"Mode:  04755", "User:     0   Group:     0", "Links: 2"},
		"/home/user/notes": {"Mode:  0600", "User:  1000   Group:  1000"},
		"/etc/escape":      {"Type: symlink", `Fast link dest: "/etc/shadow"`},
		"/dev/null":        {"Type: character special", "Device major/minor number: 01:03"},
		// Every time is the epoch, whatever the tree's were.
		"/etc/passwd": {" ctime: 0x6553f100:00000000", " atime: 0x6553f100:00000000", " mtime: 0x6553f100:00000000", "crtime: 0x6553f100:00000000"},
	} {
		s := stat(p)
		for _, want := range wants {
			if !strings.Contains(s, want) {
				t.Errorf("debugfs stat %s lacks %q:\n%s", p, want, s)
			}
		}
	}
	if a, b := inodeOf(t, dev, "/usr/bin/ping"), inodeOf(t, dev, "/usr/bin/ping.hard"); a != b {
		t.Errorf("the hard link became two inodes: %s, %s", a, b)
	}
	if x := run(t, "debugfs", "-R", "ea_list /usr/bin/arping", dev); !strings.Contains(x, "security.capability (20)") {
		t.Errorf("arping's capability xattr is lost:\n%s", x)
	}
	if x := run(t, "debugfs", "-R", "ea_list /etc/passwd", dev); !strings.Contains(x, `user.builder (4) = "kept"`) {
		t.Errorf("passwd's user xattr is lost:\n%s", x)
	}
}

func inodeOf(t *testing.T, dev, p string) string {
	s := run(t, "debugfs", "-R", "stat "+p, dev)
	f := strings.Fields(s)
	i := slices.Index(f, "Inode:")
	if i < 0 {
		t.Fatalf("no inode for %s:\n%s", p, s)
	}
	return f[i+1]
}

func checkESP(t *testing.T, raw string, l Layout) {
	img := raw + "@@" + strconv.Itoa(mib)
	// fsck.vfat reads a file system from its start only: the ESP's bytes.
	disk, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	esp := filepath.Join(t.TempDir(), "esp.img")
	if err := os.WriteFile(esp, disk[mib:101*mib], 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "fsck.vfat", "-n", esp) // exits 1 on any error it finds
	info := run(t, "minfo", "-i", img, "::")
	if !strings.Contains(info, `disk label="UEFI       "`) || !strings.Contains(info, "serial number: "+strings.ReplaceAll(l.ESPSerial, "-", "")) {
		t.Errorf("ESP label or serial (%s) wrong:\n%s", l.ESPSerial, info)
	}
	for name, want := range map[string]string{
		"EFI/BOOT/BOOTX64.EFI": "fake shim", "EFI/BOOT/grubx64.efi": "fake grub", "EFI/BOOT/mmx64.efi": "fake mokmanager",
	} {
		if got := run(t, "mtype", "-i", img, "::/"+name); got != want {
			t.Errorf("%s holds %q, want %q", name, got, want)
		}
	}
	for _, d := range []string{"BOOT", "debian", "ubuntu"} {
		cfg := run(t, "mtype", "-i", img, "::/EFI/"+d+"/grub.cfg")
		for _, want := range []string{
			"search --no-floppy --fs-uuid --set=root " + l.RootUUID,
			"linux /vmlinuz root=UUID=" + l.RootUUID + " ro console=tty1 console=ttyS0",
			"initrd /initrd.img",
		} {
			if !strings.Contains(cfg, want) {
				t.Errorf("EFI/%s/grub.cfg lacks %q:\n%s", d, want, cfg)
			}
		}
	}
	// Every entry, directories too, carries the epoch (UTC).
	dated := regexp.MustCompile(`\d{4}-\d\d-\d\d +\d\d:\d\d`)
	for _, d := range []string{"::/EFI", "::/EFI/BOOT", "::/EFI/debian"} {
		for _, line := range strings.Split(run(t, "mdir", "-i", img, d), "\n") {
			if m := dated.FindString(line); m != "" && m != "2023-11-14  22:13" {
				t.Errorf("%s: %q is not dated at the epoch", d, line)
			}
		}
	}
}
