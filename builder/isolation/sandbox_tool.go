package isolation

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ToolView is the sandbox of a build-side program that runs the image's
// code itself: mmdebstrap installs packages with apt from outside the
// image, and apt chroots into the image to run dpkg and the maintainer
// scripts. Such a program needs the host's tools, so it cannot run in
// the image; it runs instead in a root that holds only:
//
//   - the host paths of ReadOnly, read-only (programs, libraries, the
//     /etc files they read: never the whole of /etc, whose secrets a
//     maintainer script escaping its chroot would find);
//   - the image, read-write at ToolViewImage, with a proc of the
//     sandbox's PID namespace and a tmpfs /dev of its own already
//     mounted in it;
//   - its own proc, /dev and /tmp.
//
// The program and everything it starts keep capability.Build: the
// maintainer scripts can reach the image and that read-only view, and
// nothing else of the host.
type ToolView struct {
	// Dir is an empty directory of the build's, outside the image, for
	// the view's root to be mounted on.
	Dir string `json:"dir"`
	// Image is the image's directory on the build's side; the tool
	// finds it at ToolViewImage.
	Image string `json:"image"`
	// ReadOnly are absolute host paths; a symlink is recreated as one.
	ReadOnly []string `json:"read_only"`
	// Tmpfs sizes the view's /tmp and the /dev/shm of the view and of
	// the image; the view's root, which holds only mount points, is as
	// large as /run.
	Tmpfs TmpfsSizes `json:"tmpfs"`
}

// hostSecrets are masked in the view although their directories are in
// it: apt's credentials for private mirrors (pass them to the tool's
// own configuration in the recipe instead).
var hostSecrets = []string{"/etc/apt/auth.conf", "/etc/apt/auth.conf.d"}

// ToolViewImage is where a ToolView holds the image: a fixed path, as
// the image's own may lie below one the view mounts (/tmp).
const ToolViewImage = "/target"

// ToolHostPaths is what a Debian bootstrap tool reads of the host: the
// merged-/usr layout, the dpkg and apt configuration and keys, name
// resolution, TLS roots, users for apt's privilege drop, the dynamic
// linker's cache, perl's configuration and the alternatives links.
var ToolHostPaths = []string{
	"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
	"/etc/alternatives", "/etc/apt", "/etc/dpkg", "/etc/perl", "/etc/wgetrc",
	"/etc/ssl/certs", "/etc/ssl/openssl.cnf", "/etc/ca-certificates.conf",
	"/etc/resolv.conf", "/etc/hosts", "/etc/host.conf", "/etc/gai.conf", "/etc/nsswitch.conf",
	"/etc/passwd", "/etc/group", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/debian_version", "/etc/os-release", "/var/lib/dpkg/arch",
}

// enterToolView builds the view on v.Dir and pivots into it.
func enterToolView(v *ToolView) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	sizes := v.Tmpfs.WithDefaults()
	if err := unix.Mount("tmpfs", v.Dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, sizedTmpfs("mode=0755", sizes.Run)); err != nil {
		return fmt.Errorf("mounting the tool's root: %w", err)
	}
	// The tool's /tmp before the host's paths: one below /tmp (a work
	// directory there, with the build's pinned keyring) is then bound
	// onto it, not hidden under it.
	tmp := filepath.Join(v.Dir, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return fmt.Errorf("making the tool's /tmp: %w", err)
	}
	if err := unix.Mount("tmpfs", tmp, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, sizedTmpfs("mode=1777", sizes.Tmp)); err != nil {
		return fmt.Errorf("mounting the tool's /tmp: %w", err)
	}
	for _, p := range v.ReadOnly {
		if err := bindHostPath(v.Dir, p, v.ReadOnly); err != nil {
			return err
		}
	}
	for _, p := range hostSecrets {
		if err := mask(filepath.Join(v.Dir, p)); err != nil {
			return err
		}
	}
	image := filepath.Join(v.Dir, ToolViewImage)
	if err := os.MkdirAll(image, 0o755); err != nil {
		return fmt.Errorf("making the image's place in the tool's root: %w", err)
	}
	if err := unix.Mount(v.Image, image, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding the image: %w", err)
	}
	if err := remountNodev(image); err != nil {
		return err
	}
	for _, d := range []string{"proc", "dev", "sys"} {
		if err := os.Mkdir(filepath.Join(v.Dir, d), 0o755); err != nil {
			return fmt.Errorf("making the tool's /%s: %w", d, err)
		}
	}
	if err := pivotHere(v.Dir); err != nil {
		return err
	}
	// /dev first: proc's masked files are covered with its null.
	if err := mountDev("", true, sizes.Shm); err != nil {
		return err
	}
	if err := mountProc(""); err != nil {
		return err
	}
	return mountImageKernelFS(ToolViewImage, sizes.Shm)
}

// bindHostPath puts host path p at the same path below root, read-only.
// A symlink stays one when it leads within the view (/bin -> usr/bin);
// otherwise what it leads to is bound in its place (resolv.conf ->
// ../run/systemd/resolve/stub-resolv.conf, outside the view).
func bindHostPath(root, p string, view []string) error {
	st, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("reading %s: %w", p, err)
	}
	dst := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("placing %s: %w", p, err)
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		resolved, err := filepath.EvalSymlinks(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a dangling link: nothing to show
		} else if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		if target, err := os.Readlink(p); err == nil && !path.IsAbs(target) && within(resolved, view) {
			return os.Symlink(target, dst)
		}
		if st, err = os.Stat(resolved); err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		p = resolved
	}
	if st.IsDir() {
		if err := os.Mkdir(dst, 0o755); err != nil {
			return fmt.Errorf("placing %s: %w", p, err)
		}
	} else {
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("placing %s: %w", p, err)
		}
		f.Close()
	}
	// Not recursive: a mount below p (rare under /usr or /etc) would
	// come along writable, as a remount changes only the top one.
	if err := unix.Mount(p, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("binding %s: %w", p, err)
	}
	if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("making %s read-only: %w", p, err)
	}
	return nil
}

// within says whether p is one of dirs or below one.
func within(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// mountImageKernelFS gives the image, as the tool sees it, the proc of
// the sandbox and a /dev of its own. The tool is told not to mount them
// (mmdebstrap --skip=chroot/mount); they leave no trace in the image, as
// they end with the sandbox. No sysfs: base-files' /sys would not
// unpack onto a read-only one, and the base system needs none.
func mountImageKernelFS(image string, shm int64) error {
	for _, d := range []string{"proc", "dev"} {
		p := filepath.Join(image, d)
		if st, err := os.Lstat(p); err == nil && !st.IsDir() {
			return fmt.Errorf("the image's /%s is not a directory", d)
		}
		if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("making the image's /%s: %w", d, err)
		}
	}
	if err := mountProc(image); err != nil {
		return err
	}
	// mmdebstrap links /dev/fd and the std streams itself.
	return mountDev(image, false, shm)
}

// mountDev mounts a tmpfs /dev below root with the nodes of devices,
// devpts and a /dev/shm of shm bytes; links adds /dev/fd and the std
// stream links.
func mountDev(root string, links bool, shm int64) error {
	dev := filepath.Join(root, "/dev")
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=65536k"); err != nil {
		return fmt.Errorf("mounting %s: %w", dev, err)
	}
	for _, d := range devices {
		p := filepath.Join(dev, d.name)
		if err := unix.Mknod(p, unix.S_IFCHR|d.mode, int(unix.Mkdev(d.major, d.minor))); err != nil {
			return fmt.Errorf("creating %s: %w", p, err)
		}
		if err := unix.Chmod(p, d.mode); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(filepath.Join(dev, d), 0o755); err != nil {
			return fmt.Errorf("creating %s/%s: %w", dev, d, err)
		}
	}
	if err := unix.Mount("devpts", filepath.Join(dev, "pts"), "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("mounting %s/pts: %w", dev, err)
	}
	if err := unix.Mount("tmpfs", filepath.Join(dev, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, sizedTmpfs("mode=1777", shm)); err != nil {
		return fmt.Errorf("mounting %s/shm: %w", dev, err)
	}
	all := devLinks
	if !links {
		all = devLinks[:1] // ptmx only
	}
	for _, l := range all {
		if err := os.Symlink(l[1], filepath.Join(dev, l[0])); err != nil {
			return fmt.Errorf("creating %s/%s: %w", dev, l[0], err)
		}
	}
	return nil
}
