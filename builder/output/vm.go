package output

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/builder-images/builder/builder/image"
	"github.com/builder-images/builder/builder/pack"
	"github.com/builder-images/builder/builder/recipe"
	"github.com/builder-images/builder/builder/vmdisk"
)

// vmDiskName is a split VM image's disk file; vmDiskEntry is the disk's
// name inside a unified VM image, the one name LXD and Incus take as a
// VM's disk (any other leaves the image without a type).
const (
	vmDiskName  = "disk.qcow2"
	vmDiskEntry = "rootfs.img"
)

// vm is a virtual machine's image: the metadata tarball lxd.tar.EXT and
// the disk, disk.qcow2, which vmdisk makes from the rootfs; its
// fingerprint is the sha256 of the two files' bytes in that order, as
// for a split container image. Unified (the output's unified = true),
// it is one tarball IMAGE-NAME.tar.EXT holding the metadata files and
// the disk as rootfs.img, whose sha256 is the fingerprint. The split
// form, the default, is the one image servers publish.
type vm struct{ unified bool }

func (vm) Name() string      { return recipe.OutputVM }
func (vm) ImageType() string { return image.TypeVM }

func (k vm) FileNames(plan *recipe.Plan) []string {
	ext := ".tar" + plan.Output.Compression.Algorithm.Extension
	if k.unified {
		return []string{plan.Image.Name + ext}
	}
	return []string{"lxd" + ext, vmDiskName}
}

func (k vm) Write(ctx context.Context, w *Writer) (_ Written, err error) {
	var metadata image.FileInfo
	if !k.unified {
		if metadata, err = w.writeMetadata(ctx); err != nil {
			return Written{}, err
		}
		if w.Reuse != nil {
			return reuseDisk(ctx, w, metadata)
		}
	}

	scratch, remove, err := w.ScratchDir()
	if err != nil {
		return Written{}, err
	}
	defer func() { err = errors.Join(err, remove()) }()
	disk := filepath.Join(w.Dir, vmDiskName)
	if k.unified {
		// The disk is a member of the tarball, not a file of the image.
		disk = filepath.Join(scratch, vmDiskName)
	}
	record, err := buildDisk(ctx, w, scratch, disk)
	if err != nil {
		return Written{}, err
	}
	if k.unified {
		info, err := w.Compressed(ctx, w.Plan.Image.Name+w.TarExt(), image.RoleUnified, func(out io.Writer) error {
			return writeUnifiedVM(out, w, disk)
		})
		if err != nil {
			return Written{}, err
		}
		return Written{Files: []image.FileInfo{info}, Disk: &record}, nil
	}
	info, err := hashFile(disk)
	if err != nil {
		return Written{}, err
	}
	return Written{Files: []image.FileInfo{metadata, w.Record(info, image.RoleDisk)}, Disk: &record}, nil
}

// reuseDisk copies the disk the cache kept from a build of the same
// rootfs with the same settings (see PackOptions.Reuse) beside the
// metadata, with the record kept with it.
func reuseDisk(ctx context.Context, w *Writer, metadata image.FileInfo) (Written, error) {
	if w.Reuse.Disk == nil {
		return Written{}, fmt.Errorf("%w: %s was kept without its disk record", ErrReusedChanged, w.Reuse.Path)
	}
	if err := w.Reuse.Disk.Check(); err != nil {
		return Written{}, fmt.Errorf("%w: %s: %w", ErrReusedChanged, w.Reuse.Path, err)
	}
	w.Logf("==> reusing %s from the cache\n", vmDiskName)
	info, err := copyReused(ctx, w.Reuse, w.Dir, vmDiskName)
	if err != nil {
		return Written{}, err
	}
	record := *w.Reuse.Disk
	return Written{Files: []image.FileInfo{metadata, w.Record(info, image.RoleDisk)}, Disk: &record}, nil
}

// buildDisk makes the qcow2 disk at path from the rootfs, with its raw
// image in scratch, and returns what image.json records of it.
func buildDisk(ctx context.Context, w *Writer, scratch, path string) (image.Disk, error) {
	s := w.Plan.Output.VM
	format := s.Format
	if format == "" {
		format = image.DiskFormatQcow2
	}
	if format != image.DiskFormatQcow2 {
		return image.Disk{}, fmt.Errorf("building the VM disk: the format %q is not %s", format, image.DiskFormatQcow2)
	}
	boot := "grub"
	if s.SecureBoot {
		boot = "shim and grub, secure boot"
	}
	w.Logf("==> building %s (vmdisk: %s %s, %s)\n", filepath.Base(path), HumanSize(s.Size), s.Filesystem, boot)
	layout, err := vmdisk.Build(ctx, vmdisk.Options{
		Rootfs: w.Rootfs, WorkDir: scratch, Output: path,
		Size: s.Size, Filesystem: s.Filesystem, SecureBoot: s.SecureBoot,
		Architecture: w.Plan.Image.Architecture.LXD, Seed: diskSeed(w),
		Epoch: w.Epoch, Threads: w.Threads, Log: w.log,
	})
	if err != nil {
		return image.Disk{}, err
	}
	return image.Disk{
		Format: format, Size: layout.Size, Filesystem: layout.Filesystem, SecureBoot: s.SecureBoot,
		DiskGUID: layout.DiskGUID, ESPPartUUID: layout.ESPPartUUID, RootPartUUID: layout.RootPartUUID,
		ESPSerial: layout.ESPSerial, RootUUID: layout.RootUUID,
	}, nil
}

// diskSeed is the identity the disk's UUIDs derive from: the image (its
// name, architecture and creation time) and the output, so a rebuild
// with the same SOURCE_DATE_EPOCH gives the same UUIDs and two images,
// or two VM outputs of one recipe, do not share a root UUID (two disks
// with one attached to a VM would make root=UUID= ambiguous).
func diskSeed(w *Writer) string {
	return strings.Join([]string{
		w.Plan.Image.Name, w.Plan.Image.Architecture.LXD,
		strconv.FormatInt(w.Created.Unix(), 10), w.Plan.Output.Name,
	}, "\x00")
}

// writeUnifiedVM writes a unified VM image's tar stream: the metadata
// files, then the disk as rootfs.img, streamed from its file.
func writeUnifiedVM(out io.Writer, w *Writer, disk string) (err error) {
	tw, err := pack.NewTarWriter(out, w.Tar)
	if err != nil {
		return err
	}
	if err := tw.WriteFiles(w.Metadata); err != nil {
		return err
	}
	f, err := os.Open(disk)
	if err != nil {
		return fmt.Errorf("packing the VM disk: %w", err)
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("packing the VM disk: %w", err)
	}
	if err := tw.WriteFileFrom(vmDiskEntry, w.Created, st.Size(), f); err != nil {
		return err
	}
	return tw.Close()
}

// hashFile returns a finished file's name, size and sha256.
func hashFile(path string) (_ pack.FileInfo, err error) {
	f, err := os.Open(path)
	if err != nil {
		return pack.FileInfo{}, fmt.Errorf("hashing %s: %w", path, err)
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return pack.FileInfo{}, fmt.Errorf("hashing %s: %w", path, err)
	}
	return pack.FileInfo{Name: filepath.Base(path), Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}
