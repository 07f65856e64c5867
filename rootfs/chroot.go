package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Chroot is a rootfs prepared for running commands: the kernel
// filesystems a package manager needs are mounted inside it. It must only
// be set up inside the build's private mount namespace (see Isolate), so
// that whatever happens, its mounts die with the namespace.
type Chroot struct {
	Dir string
	// mounted lists mount points in mount order, for unmounting in reverse.
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
	{"console", 0o600, 5, 1},
}

// policyRC keeps maintainer scripts from starting services in the chroot.
const policyRC = "#!/bin/sh\n# Written by builder for the build; removed afterwards.\nexit 101\n"

// SetupChroot mounts proc, a read-only sysfs, a tmpfs /dev with the nodes
// above and devpts, /dev/shm, /run and /tmp, puts the host's resolv.conf
// in place and a deny-all policy-rc.d. On error everything done so far is
// undone.
func SetupChroot(dir string) (_ *Chroot, err error) {
	c := &Chroot{Dir: dir}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Teardown())
		}
	}()
	mounts := []struct {
		target, fstype, data string
		flags                uintptr
	}{
		{"proc", "proc", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"sys", "sysfs", "", unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"dev", "tmpfs", "mode=0755,size=65536k", unix.MS_NOSUID | unix.MS_NOEXEC},
		{"dev/pts", "devpts", "newinstance,ptmxmode=0666,mode=0620,gid=5", unix.MS_NOSUID | unix.MS_NOEXEC},
		{"dev/shm", "tmpfs", "mode=1777", unix.MS_NOSUID | unix.MS_NODEV},
		{"run", "tmpfs", "mode=0755", unix.MS_NOSUID | unix.MS_NODEV},
		{"tmp", "tmpfs", "mode=1777", unix.MS_NOSUID | unix.MS_NODEV},
	}
	for _, m := range mounts {
		target, err := c.mountPoint(m.target)
		if err != nil {
			return nil, err
		}
		if err := unix.Mount(m.fstype, target, m.fstype, m.flags, m.data); err != nil {
			return nil, fmt.Errorf("mounting %s on /%s: %w", m.fstype, m.target, err)
		}
		c.mounted = append(c.mounted, target)
		if m.target == "dev" {
			if err := populateDev(target); err != nil {
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

// mountPoint returns the host path of a mount point inside the rootfs,
// creating it as a directory. It refuses a mount point that is a symlink
// or that resolves outside the rootfs: a mount follows symlinks.
func (c *Chroot) mountPoint(rel string) (string, error) {
	target := filepath.Join(c.Dir, rel)
	if err := os.MkdirAll(target, 0o755); err != nil {
		return "", fmt.Errorf("creating /%s: %w", rel, err)
	}
	real, err := filepath.EvalSymlinks(target)
	if err != nil {
		return "", fmt.Errorf("resolving /%s: %w", rel, err)
	}
	root, err := filepath.EvalSymlinks(c.Dir)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", c.Dir, err)
	}
	if real != filepath.Join(root, rel) {
		return "", fmt.Errorf("refusing to mount on /%s: it is a symlink (to %s) in the image", rel, real)
	}
	return real, nil
}

func populateDev(dev string) error {
	for _, d := range devices {
		path := filepath.Join(dev, d.name)
		if err := unix.Mknod(path, unix.S_IFCHR|d.mode, int(unix.Mkdev(d.major, d.minor))); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", d.name, err)
		}
		// mknod applies the umask; the nodes need their exact modes.
		if err := os.Chmod(path, os.FileMode(d.mode)); err != nil {
			return fmt.Errorf("chmod /dev/%s: %w", d.name, err)
		}
	}
	links := map[string]string{
		"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", name, err)
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(filepath.Join(dev, d), 0o755); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", d, err)
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

// replaceFile puts content at rel for the build and registers the undo:
// whatever was there (a file, a symlink such as systemd-resolved's, or
// nothing) comes back at Teardown. The original is moved aside within
// the same directory, so no copy of it leaves the image.
func (c *Chroot) replaceFile(rel string, content []byte, mode os.FileMode) error {
	parent, err := c.mountPoint(filepath.Dir(rel))
	if err != nil {
		return err
	}
	path := filepath.Join(parent, filepath.Base(rel))
	aside := path + ".builder-original"
	_, statErr := os.Lstat(path)
	existed := statErr == nil
	if existed {
		if err := os.Rename(path, aside); err != nil {
			return fmt.Errorf("setting /%s aside: %w", rel, err)
		}
	}
	c.restore = append(c.restore, func() error {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing the build's /%s: %w", rel, err)
		}
		if existed {
			if err := os.Rename(aside, path); err != nil {
				return fmt.Errorf("restoring /%s: %w", rel, err)
			}
		}
		return nil
	})
	if err := os.WriteFile(path, content, mode); err != nil {
		return fmt.Errorf("writing /%s: %w", rel, err)
	}
	return os.Chmod(path, mode)
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
	return errors.Join(errs...)
}
