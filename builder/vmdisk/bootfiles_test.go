package vmdisk

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/confined"
)

// bootTree writes files (path → content; "->target" makes a symlink)
// under a new directory.
func bootTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, full)
		} else {
			err = os.WriteFile(full, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

var debianBoot = map[string]string{
	"boot/vmlinuz-6.1.0-9-amd64":      "k",
	"boot/initrd.img-6.1.0-9-amd64":   "i",
	"vmlinuz":                         "->boot/vmlinuz-6.1.0-9-amd64",
	"initrd.img":                      "->boot/initrd.img-6.1.0-9-amd64",
	"usr/lib/shim/shimx64.efi.signed": "shim",
	"usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed": "grub",
}

func without(m map[string]string, drop ...string) map[string]string {
	c := map[string]string{}
	for k, v := range m {
		c[k] = v
	}
	for _, d := range drop {
		delete(c, d)
	}
	return c
}

func with(m map[string]string, add map[string]string) map[string]string {
	c := without(m)
	for k, v := range add {
		c[k] = v
	}
	return c
}

func TestCheckRootfs(t *testing.T) {
	for _, tt := range []struct {
		name       string
		files      map[string]string
		secureBoot bool
		arch       string
		want       []string // in the error; none: no error
	}{
		{"debian", debianBoot, true, "amd64", nil},
		{"no shim without secure boot", without(debianBoot, "usr/lib/shim/shimx64.efi.signed"), false, "x86_64", nil},
		{"no shim", without(debianBoot, "usr/lib/shim/shimx64.efi.signed"), true, "amd64",
			[]string{"shim for secure boot, from shim-signed, (/usr/lib/shim/shimx64.efi.signed or"}},
		{"no grub", without(debianBoot, "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"), false, "amd64",
			[]string{"grub, from grub-efi-amd64-signed or grub-efi-amd64-bin,"}},
		{"no kernel", without(debianBoot, "vmlinuz", "boot/vmlinuz-6.1.0-9-amd64"), true, "amd64",
			[]string{"a kernel (/vmlinuz, /boot/vmlinuz or /boot/vmlinuz-*: install a linux-image package)"}},
		{"no initrd", without(debianBoot, "initrd.img", "boot/initrd.img-6.1.0-9-amd64"), true, "amd64",
			[]string{"an initrd for /vmlinuz (/boot/initrd.img-6.1.0-9-amd64"}},
		{"dangling kernel link, nothing in /boot", without(debianBoot, "boot/vmlinuz-6.1.0-9-amd64"), true, "amd64",
			[]string{"a kernel"}},
		{"everything missing, all named", map[string]string{"etc/hostname": "x"}, true, "amd64",
			[]string{"a kernel", "shim for secure boot", "the signed grub, from grub-efi-amd64-signed"}},
		{"arm64 looks for arm64 files", debianBoot, true, "arm64",
			[]string{"/usr/lib/shim/shimaa64.efi.signed", "/usr/lib/grub/arm64-efi-signed/grubaa64.efi.signed"}},
		{"unknown architecture", debianBoot, true, "s390x", []string{`no VM disk for architecture "s390x"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckRootfs(bootTree(t, tt.files), tt.secureBoot, tt.arch)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

func TestFindKernelWithoutLinks(t *testing.T) {
	// Ubuntu's links live in /boot; without any, the newest version wins
	// by value, not by string (6.10 after 6.9).
	for _, tt := range []struct {
		files          map[string]string
		kernel, initrd string
	}{
		{map[string]string{"boot/vmlinuz": "->vmlinuz-6.8.0-1-generic", "boot/initrd.img": "->initrd.img-6.8.0-1-generic",
			"boot/vmlinuz-6.8.0-1-generic": "k", "boot/initrd.img-6.8.0-1-generic": "i"}, "/boot/vmlinuz", "/boot/initrd.img"},
		{map[string]string{"boot/vmlinuz-6.9.0": "k", "boot/vmlinuz-6.10.0": "k", "boot/initrd.img-6.9.0": "i", "boot/initrd.img-6.10.0": "i"},
			"/boot/vmlinuz-6.10.0", "/boot/initrd.img-6.10.0"},
		// /vmlinuz without /initrd.img: the newest kernel's initrd.
		{map[string]string{"vmlinuz": "->boot/vmlinuz-6.1", "boot/vmlinuz-6.1": "k", "boot/initrd.img-6.1": "i"}, "/vmlinuz", "/boot/initrd.img-6.1"},
	} {
		files := with(tt.files, map[string]string{"usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed": "g"})
		r := openRoot(t, bootTree(t, files))
		a, _ := lookupArch("amd64")
		b, err := findBootFiles(r, a, false, true)
		if err != nil {
			t.Fatal(err)
		}
		if b.kernel != tt.kernel || b.initrd != tt.initrd || string(b.loader) != "g" || b.grub != nil {
			t.Errorf("%v: kernel %s, initrd %s, loader %q", tt.files, b.kernel, b.initrd, b.loader)
		}
	}
}

// TestHostileRootfs: shim is a symlink to a file of the build host. It
// resolves inside the image, where there is nothing, or the image's own
// file: the host's bytes never reach the ESP.
func TestHostileRootfs(t *testing.T) {
	host := filepath.Join(t.TempDir(), "host-secret")
	if err := os.WriteFile(host, []byte("HOST SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	depth := strings.Repeat("../", 12)
	for _, link := range []string{host, depth + strings.TrimPrefix(host, "/")} {
		hostile := with(debianBoot, map[string]string{"usr/lib/shim/shimx64.efi.signed": "->" + link})
		err := CheckRootfs(bootTree(t, hostile), true, "amd64")
		if err == nil || !strings.Contains(err.Error(), "shim for secure boot") {
			t.Errorf("shim -> %s: %v, want shim named missing", link, err)
		}
	}

	// The image holds a file at the host path: that is what it gets.
	files := with(debianBoot, map[string]string{
		"usr/lib/shim/shimx64.efi.signed": "->" + depth + strings.TrimPrefix(host, "/"),
		strings.TrimPrefix(host, "/"):     "IMAGE'S OWN",
	})
	r := openRoot(t, bootTree(t, files))
	a, _ := lookupArch("amd64")
	b, err := findBootFiles(r, a, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if string(b.loader) != "IMAGE'S OWN" {
		t.Errorf("shim read as %q", b.loader)
	}

	// A fifo where grub should be is not opened (it would block).
	fifoTree := bootTree(t, without(debianBoot, "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"))
	if err := os.MkdirAll(filepath.Join(fifoTree, "usr/lib/grub/x86_64-efi-signed"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mkfifo(filepath.Join(fifoTree, "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed")); err != nil {
		t.Fatal(err)
	}
	if err := CheckRootfs(fifoTree, true, "amd64"); err == nil || !strings.Contains(err.Error(), "signed grub") {
		t.Errorf("grub as a fifo: %v", err)
	}
}

// TestOversizedBootFile: a sparse shim claiming more than the ESP holds
// is refused by its size, before anything reads it: read whole, one of a
// terabyte would take the build's memory.
func TestOversizedBootFile(t *testing.T) {
	tree := bootTree(t, debianBoot)
	if err := os.Truncate(filepath.Join(tree, "usr/lib/shim/shimx64.efi.signed"), espSize+1); err != nil {
		t.Fatal(err)
	}
	a, _ := lookupArch("amd64")
	_, err := findBootFiles(openRoot(t, tree), a, true, true)
	if err == nil || !strings.Contains(err.Error(), "/usr/lib/shim/shimx64.efi.signed in the image is 104857601 bytes, more than the 100 MiB ESP holds") {
		t.Fatalf("a shim larger than the ESP: %v", err)
	}
}

// TestHostileRootfsBuild builds a disk from a rootfs whose shim links to
// a host file that the image also holds: the ESP gets the image's.
func TestHostileRootfsBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a disk")
	}
	needTools(t)
	host := filepath.Join(t.TempDir(), "host-secret")
	if err := os.WriteFile(host, []byte("HOST SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	rootfs := bootTree(t, with(debianBoot, map[string]string{
		"usr/lib/shim/shimx64.efi.signed": "->" + host,
		strings.TrimPrefix(host, "/"):     "IMAGE'S OWN",
	}))
	// A fifo and a node of a host disk are copied as nodes: opened,
	// the one would block mke2fs for ever, the other read the host's disk.
	if err := mkfifo(filepath.Join(rootfs, "fifo")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(rootfs, "sda"), unix.S_IFBLK|0o600, int(unix.Mkdev(8, 0))); err != nil {
		t.Fatal(err)
	}
	opts := testOptions(rootfs, t.TempDir(), filepath.Join(t.TempDir(), "disk.qcow2"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := Build(ctx, opts); err != nil {
		t.Fatal(err)
	}
	raw := toRaw(t, opts.Output)
	if got := run(t, "mtype", "-i", raw+"@@"+strconv.Itoa(mib), "::/EFI/BOOT/BOOTX64.EFI"); got != "IMAGE'S OWN" {
		t.Errorf("BOOTX64.EFI holds %q", got)
	}
	dev := raw + "?offset=" + strconv.Itoa(101*mib)
	for p, want := range map[string]string{"/fifo": "Type: FIFO", "/sda": "Device major/minor number: 08:00"} {
		if s := run(t, "debugfs", "-R", "stat "+p, dev); !strings.Contains(s, want) {
			t.Errorf("debugfs stat %s lacks %q:\n%s", p, want, s)
		}
	}
}

// TestBuildCleansUp: a build cancelled half-way, or failing, leaves
// nothing in its work directory and no output, not even a temporary one.
func TestBuildCleansUp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds disks")
	}
	needTools(t)
	rootfs := bootTree(t, debianBoot)
	for _, tt := range []struct {
		name  string
		setup func(*Options, context.CancelFunc)
		want  string
	}{
		{"cancelled after the partition table", func(o *Options, cancel context.CancelFunc) {
			o.Log = cancelOn{"partition table", cancel}
		}, "context canceled"},
		{"cancelled before the qcow2", func(o *Options, cancel context.CancelFunc) {
			o.Log = cancelOn{"ESP", cancel}
		}, "context canceled"},
		{"rootfs too large for the disk", func(o *Options, _ context.CancelFunc) {
			// More files than the 410 MiB file system has inodes (one
			// per 16 KiB): cheaper to make than 410 MiB of data.
			o.Rootfs = bootTree(t, debianBoot)
			// In directories of 256: libext2fs adds an entry to a
			// directory by scanning it.
			for i := range 410 * mib / 16384 {
				dir := filepath.Join(o.Rootfs, "many", strconv.Itoa(i/256))
				if i%256 == 0 {
					if err := os.MkdirAll(dir, 0o755); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(i)), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}, "does not fit in the 410 MiB root partition of a 512 MiB disk"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			work, out := t.TempDir(), t.TempDir()
			opts := testOptions(rootfs, work, filepath.Join(out, "disk.qcow2"))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tt.setup(&opts, cancel)
			_, err := Build(ctx, opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one with %q", err, tt.want)
			}
			for _, d := range []string{work, out} {
				if left, _ := os.ReadDir(d); len(left) != 0 {
					t.Errorf("%s holds %v after the failed build", d, left)
				}
			}
		})
	}
}

// cancelOn cancels a build when its log names a stage done.
type cancelOn struct {
	stage  string
	cancel context.CancelFunc
}

func (c cancelOn) Write(p []byte) (int, error) {
	if strings.Contains(string(p), c.stage) {
		c.cancel()
	}
	return len(p), nil
}

func TestBuildRefusesBadOptions(t *testing.T) {
	ok := testOptions("/nonexistent", t.TempDir(), "/nonexistent/out.qcow2")
	for _, tt := range []struct {
		change func(*Options)
		want   string
	}{
		{func(o *Options) { o.Filesystem = "btrfs" }, `file system "btrfs" is not supported`},
		{func(o *Options) { o.Size = 4<<30 + 512 }, "not a whole number of MiB"},
		{func(o *Options) { o.Size = 128 * mib }, "below the minimum"},
		{func(o *Options) { o.Seed = "" }, "no seed"},
		{func(o *Options) { o.Architecture = "ppc64el" }, "ppc64el"},
		{func(o *Options) { o.WorkDir = "" }, "work directory"},
		{func(o *Options) {}, "/nonexistent"},
	} {
		o := ok
		tt.change(&o)
		_, err := Build(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want one with %q", err, tt.want)
		}
	}
}

func openRoot(t *testing.T, dir string) *confined.Root {
	t.Helper()
	r, err := confined.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func mkfifo(p string) error { return unix.Mkfifo(p, 0o644) }
