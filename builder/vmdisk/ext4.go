package vmdisk

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// mke2fsConf pins the file system's features instead of taking the build
// host's /etc/mke2fs.conf: the same rootfs then gives the same bytes on
// any host, and no newer default (orphan_file, metadata_csum_seed) makes
// a disk that Debian 12's grub or an older guest kernel cannot read.
// These are e2fsprogs 1.47's ext4 defaults, which grub 2.06 reads.
const mke2fsConf = `[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384
	reserved_ratio = 5.0

[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
`

// makeExt4 makes the root file system inside the disk file at g's root
// partition, filled from rootfs.
//
// mke2fs -d copies owners, modes, hard links, xattrs, device nodes and
// symlinks (as links: it lstat()s each entry and never follows one), in
// the order of scandir's alphasort, so under LC_ALL=C the directory
// entries do not depend on the order the tree was made in. The
// directory hash seed would be random, as the UUID: both are given;
// what mke2fs takes from the clock, E2FSPROGS_FAKE_TIME fixes. Discard
// stays on (the default): on a regular file it punches the partition's
// range, which is already a hole, and lets mke2fs mark the inode tables
// zeroed, so the guest's ext4lazyinit does not write them all on first
// boot.
func (b *builder) makeExt4(ctx context.Context, disk string) error {
	conf := filepath.Join(b.tmp, "mke2fs.conf")
	if err := os.WriteFile(conf, []byte(mke2fsConf), 0o644); err != nil {
		return fmt.Errorf("writing mke2fs.conf: %w", err)
	}
	ext := "hash_seed=" + b.ids.hashSeed + ",root_owner=0:0,offset=" + strconv.FormatInt(b.geo.rootStart, 10)
	args := []string{"-q", "-F", "-t", "ext4", "-T", "default", "-b", "4096",
		"-L", "rootfs", "-U", b.ids.rootFS, "-E", ext, "-d", b.opts.Rootfs,
		disk, strconv.FormatInt(b.geo.rootLenKiB, 10) + "k"}
	env := []string{"MKE2FS_CONFIG=" + conf, "E2FSPROGS_FAKE_TIME=" + b.epochString()}
	out, err := b.run(ctx, env, "mke2fs", args...)
	if err != nil {
		if bytes.Contains(out, []byte("Could not allocate")) || bytes.Contains(out, []byte("No space left")) {
			return fmt.Errorf("the rootfs does not fit in the %d MiB root partition of a %d MiB disk: raise the output's size: %w",
				b.geo.rootLen/mib, b.geo.size/mib, err)
		}
		return err
	}
	return nil
}

// fixInodeTimes sets every inode's times to the epoch. mke2fs -d copies
// each file's atime, ctime and mtime from the tree, and ctime is when
// the tree was made (no call sets it), so two builds of the same rootfs
// would differ in every inode; E2FSPROGS_FAKE_TIME covers what mke2fs
// makes itself (the root, lost+found, the superblock) and every crtime.
// As with the squashfs rootfs (mksquashfs -all-time), every file gets the
// epoch as all of its times.
func (b *builder) fixInodeTimes(ctx context.Context, disk string) error {
	dev := disk + "?offset=" + strconv.FormatInt(b.geo.rootStart, 10)
	used, err := b.usedInodes(ctx, dev)
	if err != nil {
		return err
	}
	script := filepath.Join(b.tmp, "fix-times.debugfs")
	f, err := os.Create(script)
	if err != nil {
		return fmt.Errorf("writing the inode time script: %w", err)
	}
	w := bufio.NewWriter(f)
	t := "@" + b.epochString()
	for _, ino := range used {
		for _, field := range [...]string{"atime", "ctime", "mtime"} {
			fmt.Fprintf(w, "sif <%d> %s %s\n", ino, field, t)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing the inode time script: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the inode time script: %w", err)
	}
	out, err := b.run(ctx, []string{"E2FSPROGS_FAKE_TIME=" + b.epochString()}, "debugfs", "-w", "-f", script, dev)
	if err != nil {
		return err
	}
	// debugfs reports a failed command on stderr and exits 0.
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "sif:") || strings.HasPrefix(line, "set_inode_field:") || strings.Contains(line, "while ") {
			return fmt.Errorf("debugfs setting inode times: %s", line)
		}
	}
	return nil
}

// usedInodes lists the inodes a file of the tree took: every inode in
// use but the reserved ones below the first (11, lost+found), except
// the root directory's, from dumpe2fs's per-group free ranges.
func (b *builder) usedInodes(ctx context.Context, dev string) ([]int, error) {
	out, err := b.run(ctx, nil, "dumpe2fs", dev)
	if err != nil {
		return nil, err
	}
	total, perGroup, err := inodeCounts(out)
	if err != nil {
		return nil, err
	}
	free, err := freeInodes(out, total, perGroup)
	if err != nil {
		return nil, err
	}
	used := []int{2}
	for ino := 12; ino <= total; ino++ {
		if !free[ino] {
			used = append(used, ino)
		}
	}
	return used, nil
}

// inodeCounts reads the inode count and inodes per group from
// dumpe2fs's header.
func inodeCounts(out []byte) (total, perGroup int, err error) {
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "Inode count":
			total, err = strconv.Atoi(strings.TrimSpace(v))
		case "Inodes per group":
			perGroup, err = strconv.Atoi(strings.TrimSpace(v))
		}
		if err != nil {
			return 0, 0, fmt.Errorf("reading dumpe2fs: %q: %w", line, err)
		}
	}
	if total == 0 || perGroup == 0 {
		return 0, 0, fmt.Errorf("reading dumpe2fs: no inode count in its output")
	}
	return total, perGroup, nil
}

// freeInodes reads the "Free inodes: 12-2048, 2050" lines of each group
// into a set indexed by inode number. A group whose inodes were never
// used (INODE_UNINIT) is listed as a whole range, so every group has a
// line, and each must be there: a group without one would be taken as
// all used and only cost time, but a missing line means the output is
// not what this parser knows.
func freeInodes(out []byte, total, perGroup int) ([]bool, error) {
	free := make([]bool, total+1)
	groups := 0
	for _, line := range strings.Split(string(out), "\n") {
		// The header's "Free inodes:" is a count at the start of its
		// line; each group's list is indented.
		rest, ok := strings.CutPrefix(strings.TrimLeft(line, " "), "Free inodes:")
		if !ok || !strings.HasPrefix(line, " ") {
			continue
		}
		groups++
		for _, r := range strings.Split(rest, ",") {
			r = strings.TrimSpace(r)
			if r == "" {
				continue
			}
			lo, hi, isRange := strings.Cut(r, "-")
			a, err := strconv.Atoi(lo)
			if err != nil {
				return nil, fmt.Errorf("reading dumpe2fs: free inodes %q: %w", r, err)
			}
			z := a
			if isRange {
				if z, err = strconv.Atoi(hi); err != nil {
					return nil, fmt.Errorf("reading dumpe2fs: free inodes %q: %w", r, err)
				}
			}
			if a < 1 || z > total || a > z {
				return nil, fmt.Errorf("reading dumpe2fs: free inodes %q outside 1-%d", r, total)
			}
			for i := a; i <= z; i++ {
				free[i] = true
			}
		}
	}
	if want := (total + perGroup - 1) / perGroup; groups != want {
		return nil, fmt.Errorf("reading dumpe2fs: free inodes of %d groups, want %d", groups, want)
	}
	return free, nil
}
