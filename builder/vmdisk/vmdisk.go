// Package vmdisk turns a finished rootfs tree into a bootable UEFI disk
// image in qcow2, without loop devices or mounts: the partitions are
// made inside one sparse raw file at their offsets (mke2fs -d and
// -E offset, mkfs.vfat --offset, mtools' file@@offset), the GPT with
// sfdisk, the qcow2 with qemu-img. With an epoch and a seed, the same
// rootfs gives the same bytes.
package vmdisk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/builder-images/builder/builder/confined"
)

// Options say what disk to build from which rootfs.
type Options struct {
	// Rootfs is the finished rootfs tree, untrusted content: the boot
	// files are read out of it only through builder/confined.
	Rootfs string
	// WorkDir is scratch space for the raw disk; what Build makes there
	// is removed on every return.
	WorkDir string
	// Output is the qcow2 file to write; it appears only when complete.
	Output string
	// Size is the disk's size in bytes, a whole number of MiB at least
	// MinSize.
	Size int64
	// Filesystem is the root file system's type: "ext4".
	Filesystem string
	// SecureBoot boots through shim; without it grub is the loader.
	SecureBoot bool
	// Architecture is the image's, "amd64"/"x86_64" or "arm64"/"aarch64".
	Architecture string
	// Seed is the identity the UUIDs derive from: the same seed gives the
	// same UUIDs.
	Seed string
	// Epoch, when set, is every file's times and the file systems'
	// (SOURCE_DATE_EPOCH), as for the squashfs rootfs; without it the
	// files keep the tree's times and the disk is not reproducible.
	Epoch *time.Time
	// Threads is how many clusters qemu-img compresses at once; 0 means 2.
	Threads int
	// Log receives one line per stage with its duration; nil discards.
	Log io.Writer
}

// Layout is what the disk is, as image.json records it.
type Layout struct {
	DiskGUID     string `json:"disk_guid"`
	ESPPartUUID  string `json:"esp_partuuid"`
	RootPartUUID string `json:"root_partuuid"`
	// ESPSerial is the ESP's vfat volume id, "ABCD-1234".
	ESPSerial string `json:"esp_serial"`
	// RootUUID is the root file system's UUID, the kernel's root=UUID=.
	RootUUID   string `json:"root_uuid"`
	Filesystem string `json:"filesystem"`
	Size       int64  `json:"size"`
}

// builder is one Build's state.
type builder struct {
	opts  Options
	arch  arch
	geo   geometry
	ids   ids
	epoch time.Time
	tmp   string
	log   io.Writer
}

// Build makes the disk image opts describe and returns its layout.
func Build(ctx context.Context, opts Options) (_ Layout, err error) {
	b, err := newBuilder(opts)
	if err != nil {
		return Layout{}, err
	}
	root, err := confined.OpenRoot(opts.Rootfs)
	if err != nil {
		return Layout{}, fmt.Errorf("building the VM disk: %w", err)
	}
	boot, err := findBootFiles(root, b.arch, opts.SecureBoot, true)
	root.Close()
	if err != nil {
		return Layout{}, err
	}
	if b.tmp, err = os.MkdirTemp(opts.WorkDir, "vmdisk-"); err != nil {
		return Layout{}, fmt.Errorf("building the VM disk: %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(b.tmp); rerr != nil && err == nil {
			err = fmt.Errorf("removing the VM disk's scratch directory: %w", rerr)
		}
	}()
	disk := filepath.Join(b.tmp, "disk.raw")
	steps := []struct {
		name string
		run  func() error
	}{
		{"partition table", func() error { return b.makeGPT(ctx, disk) }},
		{"root file system (mke2fs -d)", func() error { return b.makeExt4(ctx, disk) }},
		{"inode times (debugfs)", func() error {
			if opts.Epoch == nil {
				return nil
			}
			return b.fixInodeTimes(ctx, disk)
		}},
		{"ESP (mkfs.vfat, mtools)", func() error {
			return b.makeESP(ctx, disk, espFiles(b.arch, boot, grubConfig(b.ids.rootFS, b.arch, boot)))
		}},
		{"qcow2 (qemu-img convert -c)", func() error { return b.convert(ctx, disk) }},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.run(); err != nil {
			return Layout{}, fmt.Errorf("building the VM disk, %s: %w", s.name, err)
		}
		fmt.Fprintf(b.log, "vmdisk: %s: %.2f s\n", s.name, time.Since(start).Seconds())
	}
	return Layout{
		DiskGUID: b.ids.disk, ESPPartUUID: b.ids.esp, RootPartUUID: b.ids.rootPart,
		ESPSerial: b.ids.espSerial, RootUUID: b.ids.rootFS, Filesystem: opts.Filesystem, Size: opts.Size,
	}, nil
}

// newBuilder checks opts and derives what the disk is.
func newBuilder(opts Options) (*builder, error) {
	switch {
	case opts.Rootfs == "" || opts.WorkDir == "" || opts.Output == "":
		return nil, errors.New("building the VM disk: the rootfs, the work directory and the output are all needed")
	case opts.Filesystem != "ext4":
		return nil, fmt.Errorf("building the VM disk: file system %q is not supported: only ext4", opts.Filesystem)
	case opts.Size%mib != 0:
		return nil, fmt.Errorf("building the VM disk: size %d is not a whole number of MiB", opts.Size)
	}
	b := &builder{opts: opts, log: opts.Log}
	if b.log == nil {
		b.log = io.Discard
	}
	var err error
	if b.arch, err = lookupArch(opts.Architecture); err != nil {
		return nil, err
	}
	if b.geo, err = layoutFor(opts.Size); err != nil {
		return nil, fmt.Errorf("building the VM disk: %w", err)
	}
	if b.ids, err = deriveIDs(opts.Seed); err != nil {
		return nil, fmt.Errorf("building the VM disk: %w", err)
	}
	// Without an epoch the file systems take the build's time, as
	// mke2fs and mkfs.vfat would.
	b.epoch = time.Now()
	if opts.Epoch != nil {
		b.epoch = *opts.Epoch
	}
	return b, nil
}

func (b *builder) epochString() string { return strconv.FormatInt(b.epoch.Unix(), 10) }

// makeGPT creates the sparse disk file and its partition table with
// sfdisk, every GUID and sector given, so nothing of it comes from the
// clock or the random source. (sgdisk would do the same, but sleeps a
// second after writing for a kernel that never reads a plain file.)
func (b *builder) makeGPT(ctx context.Context, disk string) error {
	f, err := os.OpenFile(disk, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating the raw disk: %w", err)
	}
	if err := f.Truncate(b.geo.size); err != nil {
		f.Close()
		return fmt.Errorf("sizing the raw disk: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("creating the raw disk: %w", err)
	}
	_, err = b.runInput(ctx, strings.NewReader(sfdiskScript(b.geo, b.ids, b.arch)), nil,
		"sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", "--wipe", "never", disk)
	return err
}

// sfdiskScript is the partition table as sfdisk reads it. first-lba 34
// is the first sector after the primary GPT, as sgdisk and parted write.
func sfdiskScript(g geometry, id ids, a arch) string {
	return fmt.Sprintf(`label: gpt
label-id: %s
unit: sectors
sector-size: %d
first-lba: 34
start=%d, size=%d, type=%s, uuid=%s, name="UEFI"
start=%d, size=%d, type=%s, uuid=%s, name="rootfs"
`, id.disk, sectorSize,
		g.espFirst, g.espLast-g.espFirst+1, espType, id.esp,
		g.rootFirst, g.rootLast-g.rootFirst+1, a.rootType, id.rootPart)
}

// convert writes the qcow2, compressed, to a temporary name beside the
// output, then renames it. qemu-img writes clusters in order unless told
// otherwise (-W), so the bytes do not depend on -m, which only says how
// many clusters it compresses at once.
func (b *builder) convert(ctx context.Context, disk string) (err error) {
	out, err := os.CreateTemp(filepath.Dir(b.opts.Output), "."+filepath.Base(b.opts.Output)+".tmp-")
	if err != nil {
		return fmt.Errorf("creating the qcow2: %w", err)
	}
	tmp := out.Name()
	out.Close()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	threads := b.opts.Threads
	if threads <= 0 {
		threads = 2
	}
	if _, err := b.run(ctx, nil, "qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", "-c",
		"-m", strconv.Itoa(min(threads, 16)), disk, tmp); err != nil {
		return err
	}
	f, err := os.Open(tmp)
	if err != nil {
		return fmt.Errorf("syncing the qcow2: %w", err)
	}
	serr := f.Sync()
	f.Close()
	if serr != nil {
		return fmt.Errorf("syncing the qcow2: %w", serr)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("the qcow2's mode: %w", err)
	}
	if err := os.Rename(tmp, b.opts.Output); err != nil {
		return fmt.Errorf("writing the qcow2: %w", err)
	}
	return nil
}
