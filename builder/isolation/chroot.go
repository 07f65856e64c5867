package isolation

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/confined"
)

// Chroot is a rootfs prepared for running commands: the kernel
// filesystems a package manager needs are mounted inside it. It must only
// be set up inside the build's private mount namespace (see RunIsolated),
// so that whatever happens, its mounts die with the namespace.
//
// Every path inside the image is resolved through Root, as in a chroot: a
// symlink in the image (an absolute /tmp, a merged /usr/sbin) is followed
// inside it and can never make builder create, write or mount anything on
// the host.
type Chroot struct {
	Dir  string
	root *confined.Root
	// mounted lists mount points (host paths, resolved) in mount order,
	// for unmounting in reverse.
	mounted []string
	// restore undoes the files Setup replaced (resolv.conf, policy-rc.d).
	restore []func() error
}

// devices are the nodes of the chroot's /dev: never the host's /dev.
var devices = []struct {
	name         string
	mode         uint32
	major, minor uint32
}{
	{"null", 0o666, 1, 3},
	{"zero", 0o666, 1, 5},
	{"full", 0o666, 1, 7},
	{"random", 0o666, 1, 8},
	{"urandom", 0o666, 1, 9},
	{"tty", 0o666, 5, 0},
	// The host's console (5,1) is no business of the build: a script
	// writing to /dev/console writes nowhere.
	{"console", 0o600, 1, 3},
}

// devLinks are /dev's symlinks, ptmx first.
var devLinks = [][2]string{
	{"ptmx", "pts/ptmx"}, {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
}

// policyRC keeps maintainer scripts from starting services in the chroot.
const policyRC = "#!/bin/sh\n# Written by builder for the build; removed afterwards.\nexit 101\n"

// chrootMounts are the image's kernel filesystems, shared by the
// commands of a build. proc is not among them: each command's sandbox
// mounts the proc of its own PID namespace (see SandboxArg). The
// tmpfs mounts the commands write to take their sizes from the recipe's
// limits (size); /dev holds device nodes only.
var chrootMounts = []struct {
	target, fstype, data string
	flags                uintptr
	size                 func(TmpfsSizes) int64
}{
	{"sys", "sysfs", "", unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, nil},
	{"dev", "tmpfs", "mode=0755,size=65536k", unix.MS_NOSUID | unix.MS_NOEXEC, nil},
	{"dev/pts", "devpts", "newinstance,ptmxmode=0666,mode=0620,gid=5", unix.MS_NOSUID | unix.MS_NOEXEC, nil},
	{"dev/shm", "tmpfs", "mode=1777", unix.MS_NOSUID | unix.MS_NODEV, func(s TmpfsSizes) int64 { return s.Shm }},
	{"run", "tmpfs", "mode=0755", unix.MS_NOSUID | unix.MS_NODEV, func(s TmpfsSizes) int64 { return s.Run }},
	{"tmp", "tmpfs", "mode=1777", unix.MS_NOSUID | unix.MS_NODEV, func(s TmpfsSizes) int64 { return s.Tmp }},
}

// SetupChroot makes /proc for the commands' own proc mounts and mounts a
// read-only sysfs, a tmpfs /dev with the nodes above and devpts, and
// /dev/shm, /run and /tmp of the given sizes, puts the host's
// resolv.conf in place and a deny-all policy-rc.d. On error everything
// done so far is undone.
func SetupChroot(dir string, sizes TmpfsSizes) (_ *Chroot, err error) {
	sizes = sizes.WithDefaults()
	root, err := confined.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	c := &Chroot{Dir: dir, root: root}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Teardown())
		}
	}()
	// debootstrap's first stage links /proc to the host's when it
	// believes it runs in Docker; each command mounts its own proc there,
	// which needs a directory.
	if st, err := root.Lstat("proc"); err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
		if err := root.RemoveAll("proc"); err != nil {
			return nil, fmt.Errorf("replacing the image's /proc link: %w", err)
		}
	}
	proc, err := root.MkdirAll("proc")
	if err != nil {
		return nil, fmt.Errorf("creating /proc: %w", err)
	}
	proc.Close()
	for _, m := range chrootMounts {
		data := m.data
		if m.size != nil {
			data = sizedTmpfs(m.data, m.size(sizes))
		}
		if _, err := c.mount(m.target, m.fstype, m.flags, data); err != nil {
			return nil, err
		}
		if m.target == "dev" {
			if err := c.populateDev(); err != nil {
				return nil, err
			}
		}
	}
	if err := c.replaceFile("etc/resolv.conf", hostResolvConf(), 0o644); err != nil {
		return nil, err
	}
	if err := c.replaceFile("usr/sbin/policy-rc.d", []byte(policyRC), 0o755); err != nil {
		return nil, err
	}
	return c, nil
}

// mount mounts a fresh filesystem on rel inside the image. The mount
// point is created and opened inside the root, and the mount goes onto
// that open directory (/proc/self/fd/N), so no symlink in the image can
// move the mount elsewhere. It returns the mount point's host path.
func (c *Chroot) mount(rel, fstype string, flags uintptr, data string) (string, error) {
	d, err := c.root.MkdirAll(rel)
	if err != nil {
		return "", fmt.Errorf("creating /%s: %w", rel, err)
	}
	defer d.Close()
	fdPath := "/proc/self/fd/" + strconv.Itoa(int(d.Fd()))
	target, err := os.Readlink(fdPath)
	if err != nil {
		return "", fmt.Errorf("resolving /%s: %w", rel, err)
	}
	if err := unix.Mount(fstype, fdPath, fstype, flags, data); err != nil {
		return "", fmt.Errorf("mounting %s on /%s: %w", fstype, rel, err)
	}
	c.mounted = append(c.mounted, target)
	return target, nil
}

// populateDev fills the freshly mounted /dev, reopened so the handle is
// the tmpfs and not the directory under it.
func (c *Chroot) populateDev() error {
	dev, err := c.root.OpenDir("dev")
	if err != nil {
		return err
	}
	defer dev.Close()
	dfd := int(dev.Fd())
	for _, d := range devices {
		if err := unix.Mknodat(dfd, d.name, unix.S_IFCHR|d.mode, int(unix.Mkdev(d.major, d.minor))); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", d.name, err)
		}
		// mknod applies the umask; the nodes need their exact modes.
		if err := unix.Fchmodat(dfd, d.name, d.mode, 0); err != nil {
			return fmt.Errorf("chmod /dev/%s: %w", d.name, err)
		}
	}
	for _, name := range []string{"pts", "shm"} {
		if err := unix.Mkdirat(dfd, name, 0o755); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", name, err)
		}
	}
	for _, l := range devLinks {
		if err := unix.Symlinkat(l[1], dfd, l[0]); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", l[0], err)
		}
	}
	return nil
}

// hostResolvConf is what the build resolves names with: the host's
// configuration, or nothing when the host has none.
func hostResolvConf() []byte {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	return b
}

// replaceFile puts content at rel for the build and registers the undo.
// The original (a file, a symlink such as systemd-resolved's, or nothing)
// is set aside in the same directory and comes back at Teardown, unless a
// step replaced builder's file with its own: then the step's stays.
func (c *Chroot) replaceFile(rel string, content []byte, mode uint32) error {
	aside := rel + ".builder-original"
	_, statErr := c.root.Lstat(rel)
	existed := statErr == nil
	if existed {
		if err := c.root.Rename(rel, aside); err != nil {
			return fmt.Errorf("setting /%s aside: %w", rel, err)
		}
	}
	if err := c.root.WriteFile(rel, bytes.NewReader(content), confined.Attrs{Mode: mode}); err != nil {
		return fmt.Errorf("writing /%s: %w", rel, err)
	}
	ours, err := c.root.Lstat(rel)
	if err != nil {
		return fmt.Errorf("writing /%s: %w", rel, err)
	}
	c.restore = append(c.restore, func() error {
		now, err := c.root.Lstat(rel)
		stillOurs := err == nil && now.Ino == ours.Ino && now.Dev == ours.Dev
		switch {
		case !stillOurs && existed:
			// A step wrote its own file: keep it, drop the original.
			return ignoreMissing(c.root.RemoveAll(aside))
		case !stillOurs:
			return nil
		}
		if err := c.root.RemoveAll(rel); err != nil {
			return fmt.Errorf("removing the build's /%s: %w", rel, err)
		}
		if existed {
			if err := c.root.Rename(aside, rel); err != nil {
				return fmt.Errorf("restoring /%s: %w", rel, err)
			}
		}
		return nil
	})
	return nil
}

func ignoreMissing(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// WriteScript writes a run step's script into the build's /tmp (through
// the root, like every write) and returns how to run it: through its #!
// line when it has one, with /bin/sh otherwise.
func (c *Chroot) WriteScript(name, script string) ([]string, error) {
	p := fmt.Sprintf("/tmp/builder-run-%s", name)
	if err := c.root.WriteFile(p, bytes.NewReader([]byte(script)), confined.Attrs{Mode: 0o700}); err != nil {
		return nil, fmt.Errorf("writing the script of %s: %w", name, err)
	}
	if bytes.HasPrefix([]byte(script), []byte("#!")) {
		return []string{p}, nil
	}
	return []string{"/bin/sh", p}, nil
}

// LookPath finds a command in the image's PATH.
func (c *Chroot) LookPath(name string) (string, error) {
	return c.root.LookPath(name, pathFromEnv(baseEnv))
}

// Teardown restores replaced files and unmounts in reverse order. It may
// be called more than once.
func (c *Chroot) Teardown() error {
	var errs []error
	for i := len(c.restore) - 1; i >= 0; i-- {
		errs = append(errs, c.restore[i]())
	}
	c.restore = nil
	for i := len(c.mounted) - 1; i >= 0; i-- {
		// Lazy: a process the build left behind must not keep the
		// mount, and with it the rootfs, busy.
		if err := unix.Unmount(c.mounted[i], unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", c.mounted[i], err))
		}
	}
	c.mounted = nil
	if c.root != nil {
		errs = append(errs, c.root.Close())
		c.root = nil
	}
	return errors.Join(errs...)
}

// BindHost binds a host directory over rel inside the image (created
// there when missing, resolved inside the root like every mount point),
// nosuid, nodev and noexec, until the returned function undoes it;
// Teardown undoes it too.
//
// A step may rename a parent of the mount point (mv /var/cache/apt …),
// which moves the mount: the undo finds it by its mount ID, wherever it
// went, so the host directory never stays in the image for the steps
// that follow.
func (c *Chroot) BindHost(hostDir, rel string) (func() error, error) {
	d, err := c.root.MkdirAll(rel)
	if err != nil {
		return nil, fmt.Errorf("creating /%s: %w", rel, err)
	}
	defer d.Close()
	fdPath := "/proc/self/fd/" + strconv.Itoa(int(d.Fd()))
	target, err := os.Readlink(fdPath)
	if err != nil {
		return nil, fmt.Errorf("resolving /%s: %w", rel, err)
	}
	if err := unix.Mount(hostDir, fdPath, "", unix.MS_BIND, ""); err != nil {
		return nil, fmt.Errorf("binding %s on /%s: %w", hostDir, rel, err)
	}
	c.mounted = append(c.mounted, target)
	if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return nil, fmt.Errorf("binding %s on /%s: %w", hostDir, rel, err)
	}
	id, err := topMountID(target)
	if err != nil {
		return nil, err
	}
	return func() error {
		if i := slices.Index(c.mounted, target); i >= 0 {
			c.mounted = slices.Delete(c.mounted, i, i+1)
		}
		return unmountID(id)
	}, nil
}

// topMountID is the ID of the last mount on mountPoint.
func topMountID(mountPoint string) (int, error) {
	mounts, err := readMountInfo()
	if err != nil {
		return 0, err
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		if mounts[i].MountPoint == mountPoint {
			return mounts[i].ID, nil
		}
	}
	return 0, fmt.Errorf("%s is not a mount point after mounting it", mountPoint)
}

// unmountID unmounts the mount with that ID, wherever it is now.
func unmountID(id int) error {
	mounts, err := readMountInfo()
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if m.ID != id {
			continue
		}
		if err := unix.Unmount(m.MountPoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmounting %s: %w", m.MountPoint, err)
		}
	}
	return nil
}
