package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
)

// Finalize removes what the build host and the build left in the image:
// machine-id, hostname and resolv.conf from the host, apt's lists and
// caches, log contents and ssh host keys, so that every container from
// the image starts with identities of its own.
//
// It works through os.Root: a symlink in the image that points outside
// it makes the operation fail instead of reaching the host.
func Finalize(dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("opening %s: %w", dir, err)
	}
	defer root.Close()
	f := finalizer{root: root}
	// An empty machine-id makes systemd create one at first boot.
	f.truncateRegular("etc/machine-id")
	f.removeRegular("var/lib/dbus/machine-id")
	// debootstrap and mmdebstrap copy the host's: the image gets a
	// neutral name (LXD's hostname template sets the container's) and
	// no name servers of the build network. A symlink (systemd-resolved)
	// is the distribution's own and stays.
	f.replaceRegular("etc/hostname", "localhost\n")
	f.truncateRegular("etc/resolv.conf")
	f.emptyDir("var/lib/apt/lists", "lock", "partial")
	f.emptyDir("var/lib/apt/lists/partial")
	f.removeMatching("var/cache/apt", "*.bin")
	f.removeMatching("var/cache/apt/archives", "*.deb")
	f.emptyDir("var/cache/apt/archives/partial")
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

func (f *finalizer) replaceRegular(p, content string) {
	if !f.regular(p) {
		return
	}
	file, err := f.root.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		f.fail("rewriting", p, err)
		return
	}
	_, werr := file.WriteString(content)
	f.fail("rewriting", p, errors.Join(werr, file.Close()))
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
const sshKeysDropIn = `# Written by builder: the image ships without ssh host keys, so that
# every container gets its own.
[Service]
ExecStartPre=/usr/bin/ssh-keygen -A
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
