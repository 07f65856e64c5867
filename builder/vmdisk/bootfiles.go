package vmdisk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/builder-images/builder/builder/confined"
)

// bootFiles are what the ESP gets from the image, read through
// builder/confined: the rootfs is what a recipe's run steps made, so a
// symlink at /usr/lib/shim/shimx64.efi.signed pointing at /etc/shadow
// resolves inside the image, never on the host.
type bootFiles struct {
	// loader is EFI/BOOT/BOOT<X>.EFI: shim with secure boot, else grub.
	loader []byte
	// grub is EFI/BOOT/grub<x>.efi, the second stage shim loads; nil
	// without secure boot, where grub itself is the loader.
	grub []byte
	// mokManager is mm<x>.efi, which shim runs to enrol a key; nil when
	// the image has none.
	mokManager []byte
	// kernel and initrd are the paths inside the image grub.cfg boots
	// when the image has no /boot/grub/grub.cfg of its own.
	kernel, initrd string
}

// The places Debian's and Ubuntu's packages put the signed binaries:
// shim-signed, grub-efi-<arch>-signed, and the unsigned grub of
// grub-efi-<arch>-bin for an image booted without secure boot.
func shimCandidates(a arch) []string {
	return []string{
		"/usr/lib/shim/shim" + a.efiSuffix + ".efi.signed",
		// Ubuntu's shim-signed ships the current and the previous shim.
		"/usr/lib/shim/shim" + a.efiSuffix + ".efi.signed.latest",
	}
}

func grubCandidates(a arch, secureBoot bool) []string {
	c := []string{"/usr/lib/grub/" + a.grubPlatform + "-signed/grub" + a.efiSuffix + ".efi.signed"}
	if !secureBoot {
		c = append(c, "/usr/lib/grub/"+a.grubPlatform+"/monolithic/grub"+a.efiSuffix+".efi")
	}
	return c
}

func mokCandidates(a arch) []string {
	return []string{"/usr/lib/shim/mm" + a.efiSuffix + ".efi.signed", "/usr/lib/shim/mm" + a.efiSuffix + ".efi"}
}

// Debian's linux-image postinst keeps /vmlinuz and /initrd.img pointing at
// the newest kernel; Ubuntu keeps them in /boot. Booting through the
// links keeps a VM booting the kernel an upgrade inside it installs.
var (
	kernelLinks = []string{"/vmlinuz", "/boot/vmlinuz"}
	initrdLinks = []string{"/initrd.img", "/boot/initrd.img"}
)

// CheckRootfs says whether rootfs has what a VM disk boots with: a
// kernel, its initrd, grub, and shim for secure boot; the error names
// every missing file and the package that provides it.
func CheckRootfs(rootfs string, secureBoot bool, architecture string) error {
	a, err := lookupArch(architecture)
	if err != nil {
		return err
	}
	r, err := confined.OpenRoot(rootfs)
	if err != nil {
		return fmt.Errorf("checking the rootfs for a VM disk: %w", err)
	}
	defer r.Close()
	_, err = findBootFiles(r, a, secureBoot, false)
	return err
}

// findBootFiles finds the boot files in the image, reading the EFI
// binaries when read is set.
func findBootFiles(r *confined.Root, a arch, secureBoot, read bool) (bootFiles, error) {
	var b bootFiles
	var missing []string
	pick := func(candidates []string, what string) []byte {
		for _, c := range candidates {
			if !isRegular(r, c) {
				continue
			}
			if !read {
				return []byte{}
			}
			data, err := readBootFile(r, c)
			if err != nil {
				missing = append(missing, fmt.Sprintf("%s (%v)", what, err))
				return nil
			}
			return data
		}
		missing = append(missing, fmt.Sprintf("%s (%s)", what, strings.Join(candidates, " or ")))
		return nil
	}
	var err error
	if b.kernel, err = findKernel(r); err != nil {
		missing = append(missing, err.Error())
	} else if b.initrd, err = findInitrd(r, b.kernel); err != nil {
		missing = append(missing, err.Error())
	}
	grubPkg := "grub-efi-" + a.name + "-signed"
	if secureBoot {
		b.loader = pick(shimCandidates(a), "shim for secure boot, from shim-signed,")
		b.grub = pick(grubCandidates(a, true), "the signed grub, from "+grubPkg+",")
		for _, c := range mokCandidates(a) {
			if isRegular(r, c) {
				if read {
					b.mokManager, err = readBootFile(r, c)
					if err != nil {
						missing = append(missing, fmt.Sprintf("MokManager (%v)", err))
					}
				}
				break
			}
		}
	} else {
		b.loader = pick(grubCandidates(a, false), "grub, from "+grubPkg+" or grub-efi-"+a.name+"-bin,")
	}
	if len(missing) > 0 {
		return bootFiles{}, fmt.Errorf("the rootfs cannot boot as a VM: missing %s", strings.Join(missing, "; "))
	}
	return b, nil
}

// readBootFile reads an EFI binary for the ESP. One larger than the ESP
// could never go on it, and reading it whole would take that much memory
// (a sparse file in the rootfs can claim a terabyte at no cost), so its
// size is looked at first.
func readBootFile(r *confined.Root, name string) ([]byte, error) {
	st, err := r.Stat(name)
	if err != nil {
		return nil, err
	}
	if st.Size > espSize {
		return nil, fmt.Errorf("%s in the image is %d bytes, more than the %d MiB ESP holds", name, st.Size, espSize/mib)
	}
	return r.ReadFile(name)
}

// isRegular says whether name is a regular file in the image, following
// symlinks inside it.
func isRegular(r *confined.Root, name string) bool {
	st, err := r.Stat(name)
	return err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}

// findKernel picks the kernel grub boots: the first of kernelLinks that
// leads to a regular file, else the newest /boot/vmlinuz-*.
func findKernel(r *confined.Root) (string, error) {
	for _, l := range kernelLinks {
		if isRegular(r, l) {
			return l, nil
		}
	}
	versions, err := bootVersions(r, "vmlinuz-")
	if err != nil {
		return "", err
	}
	if len(versions) == 0 {
		return "", errors.New("a kernel (/vmlinuz, /boot/vmlinuz or /boot/vmlinuz-*: install a linux-image package)")
	}
	return "/boot/vmlinuz-" + versions[len(versions)-1], nil
}

// findInitrd picks the initrd that goes with kernel: the link beside it,
// else the initrd of the same version.
func findInitrd(r *confined.Root, kernel string) (string, error) {
	if i := slices.Index(kernelLinks, kernel); i >= 0 {
		if isRegular(r, initrdLinks[i]) {
			return initrdLinks[i], nil
		}
	}
	version := strings.TrimPrefix(path.Base(kernel), "vmlinuz-")
	if version == path.Base(kernel) {
		// A link: the version is that of the file it leads to.
		versions, err := bootVersions(r, "vmlinuz-")
		if err != nil || len(versions) == 0 {
			return "", fmt.Errorf("an initrd for %s (install initramfs-tools or dracut)", kernel)
		}
		version = versions[len(versions)-1]
	}
	initrd := "/boot/initrd.img-" + version
	if !isRegular(r, initrd) {
		return "", fmt.Errorf("an initrd for %s (%s, or %s: install initramfs-tools or dracut)", kernel, initrd, strings.Join(initrdLinks, " or "))
	}
	return initrd, nil
}

// bootVersions lists the versions of /boot/PREFIX* regular files, oldest
// first.
func bootVersions(r *confined.Root, prefix string) ([]string, error) {
	dir, err := r.OpenDir("/boot")
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing /boot in the image: %w", err)
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("listing /boot in the image: %w", err)
	}
	var versions []string
	for _, n := range names {
		v, ok := strings.CutPrefix(n, prefix)
		if ok && v != "" && isRegular(r, "/boot/"+n) {
			versions = append(versions, v)
		}
	}
	slices.SortFunc(versions, compareVersions)
	return versions, nil
}

// compareVersions orders kernel versions the way people read them:
// runs of digits by value, so 6.10 is newer than 6.9.
func compareVersions(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := len(na) - len(nb); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digitRun(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// writeStaged writes data as a file under dir for mcopy, with the time
// the ESP's entries carry.
func writeStaged(dir, name string, data []byte, mtime int64) (string, error) {
	p := path.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return "", fmt.Errorf("staging %s for the ESP: %w", name, err)
	}
	t := unix.NsecToTimespec(mtime * 1e9)
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{t, t}, 0); err != nil {
		return "", fmt.Errorf("staging %s for the ESP: %w", name, err)
	}
	return p, nil
}
