package stage

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
)

// HostIdentity is what bootstrap tools copy from the build host into an
// image: debootstrap and mmdebstrap copy /etc/hostname and
// /etc/resolv.conf.
type HostIdentity struct {
	Hostname, ResolvConf []byte
}

// ReadHostIdentity reads this machine's hostname and resolv.conf files.
func ReadHostIdentity() HostIdentity {
	var h HostIdentity
	h.Hostname, _ = os.ReadFile("/etc/hostname")
	if len(h.Hostname) == 0 {
		if name, err := os.Hostname(); err == nil {
			h.Hostname = []byte(name + "\n")
		}
	}
	h.ResolvConf, _ = os.ReadFile("/etc/resolv.conf")
	return h
}

// Finalize removes what the build host and the build left in the image:
// the host's hostname and resolv.conf, machine-id, apt's lists and
// caches, dpkg's and debconf's backups, ldconfig's cache, log contents and
// ssh host keys, so that every container from the image starts with
// identities of its own. What a recipe wrote itself (a hostname, a
// resolv.conf) is kept: only files still equal to the host's are reset.
//
// It works through os.Root: a symlink in the image that points outside
// it makes the operation fail instead of reaching the host.
func Finalize(dir string, host HostIdentity) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("opening %s: %w", dir, err)
	}
	defer root.Close()
	f := finalizer{root: root}
	// An empty machine-id makes systemd create one at first boot.
	f.truncateRegular("etc/machine-id")
	f.removeRegular("var/lib/dbus/machine-id")
	// LXD's hostname template names each container; until then the
	// image is "localhost". A symlink (systemd-resolved) is the
	// distribution's own and stays.
	f.resetIfEqual("etc/hostname", host.Hostname, "localhost\n")
	f.resetIfEqual("etc/resolv.conf", host.ResolvConf, "")
	f.emptyDir("var/lib/apt/lists", "lock", "partial")
	f.emptyDir("var/lib/apt/lists/partial")
	f.removeMatching("var/cache/apt", "*.bin")
	f.removeMatching("var/cache/apt/archives", "*.deb")
	f.emptyDir("var/cache/apt/archives/partial")
	f.removeMatching("var/lib/dpkg", "*-old")
	f.removeMatching("var/cache/debconf", "*-old")
	f.removeRegular("var/cache/ldconfig/aux-cache")
	// Journal files are binary: an empty one is a corrupt one.
	f.emptyDir("var/log/journal")
	f.truncateTree("var/log")
	if f.removeMatching("etc/ssh", "ssh_host_*") > 0 {
		f.regenerateSSHKeys()
	}
	return errors.Join(f.errs...)
}

type finalizer struct {
	root *os.Root
	errs []error
}

func (f *finalizer) fail(op, p string, err error) {
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		f.errs = append(f.errs, fmt.Errorf("%s /%s: %w", op, p, err))
	}
}

// regular reports whether p is a regular file, without following a
// final symlink.
func (f *finalizer) regular(p string) bool {
	st, err := f.root.Lstat(p)
	return err == nil && st.Mode().IsRegular()
}

func (f *finalizer) truncateRegular(p string) {
	if !f.regular(p) {
		return
	}
	file, err := f.root.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		f.fail("truncating", p, err)
		return
	}
	f.fail("truncating", p, file.Close())
}

func (f *finalizer) removeRegular(p string) {
	if f.regular(p) {
		f.fail("removing", p, f.root.Remove(p))
	}
}

// resetIfEqual rewrites the regular file p as root:root 0644 holding
// content, if it still holds exactly what the host has.
func (f *finalizer) resetIfEqual(p string, hostContent []byte, content string) {
	if !f.regular(p) {
		return
	}
	now, err := f.root.ReadFile(p)
	if err != nil {
		f.fail("reading", p, err)
		return
	}
	if !bytes.Equal(now, hostContent) || (len(now) == 0 && content == "") {
		return
	}
	f.fail("rewriting", p, f.root.WriteFile(p, []byte(content), 0o644))
	f.fail("chmod", p, f.root.Chmod(p, 0o644))
	f.fail("chown", p, f.root.Lchown(p, 0, 0))
}

// entries lists a directory of the image; a missing one lists nothing.
func (f *finalizer) entries(dir string) []fs.DirEntry {
	list, err := fs.ReadDir(f.root.FS(), dir)
	f.fail("listing", dir, err)
	return list
}

// emptyDir removes everything in dir but the names kept.
func (f *finalizer) emptyDir(dir string, keep ...string) {
	for _, e := range f.entries(dir) {
		if !slices.Contains(keep, e.Name()) {
			f.fail("removing", path.Join(dir, e.Name()), f.root.RemoveAll(path.Join(dir, e.Name())))
		}
	}
}

// removeMatching removes the regular files of dir matching pattern and
// returns how many it removed.
func (f *finalizer) removeMatching(dir, pattern string) int {
	n := 0
	for _, e := range f.entries(dir) {
		if ok, _ := path.Match(pattern, e.Name()); ok && e.Type().IsRegular() {
			f.fail("removing", path.Join(dir, e.Name()), f.root.Remove(path.Join(dir, e.Name())))
			n++
		}
	}
	return n
}

// truncateTree empties every regular file below dir, keeping the files,
// their owners and modes: services expect their log files to exist.
func (f *finalizer) truncateTree(dir string) {
	err := fs.WalkDir(f.root.FS(), dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			f.fail("walking", p, err)
			return nil
		}
		if d.Type().IsRegular() {
			f.truncateRegular(p)
		}
		return nil
	})
	f.fail("walking", dir, err)
}

// sshKeysDropIn makes sshd create the host keys finalize removed, on the
// container's first start.
// The empty ExecStartPre= clears the unit's own list, so that the keys
// exist before Debian's "sshd -t" check, which fails without them.
const sshKeysDropIn = `# Written by builder: the image ships without ssh host keys, so that
# every container gets its own.
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
`

func (f *finalizer) regenerateSSHKeys() {
	for _, unit := range []string{"lib/systemd/system/ssh.service", "usr/lib/systemd/system/ssh.service"} {
		if _, err := f.root.Lstat(unit); err == nil {
			dir := "etc/systemd/system/ssh.service.d"
			if err := f.root.MkdirAll(dir, 0o755); err != nil {
				f.fail("creating", dir, err)
				return
			}
			f.fail("writing", dir+"/builder-host-keys.conf", f.root.WriteFile(dir+"/builder-host-keys.conf", []byte(sshKeysDropIn), 0o644))
			return
		}
	}
}
